//! Save-time checks: a script must parse, and must be a function expression.

use rquickjs::context::EvalOptions;
use rquickjs::{Ctx, Error, Exception, Value};

use crate::sandbox::{Ended, Limits, Sandbox};

/// Why a script cannot be saved. The `Display` text is meant for a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script does not parse. Lines and columns count from 1, in the script as written.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        message: String,
        line: u32,
        column: u32,
    },
    /// The script parses but is not `function (user, context, callback) { … }`.
    #[error("the script must be a function, like `function (user, context, callback) {{ … }}`; it evaluates to {found}")]
    NotAFunction { found: String },
    /// Loading the script already failed (it runs code outside its function, and that code
    /// threw or ran out of time or memory).
    #[error("the script failed while loading: {0}")]
    Load(String),
    /// The engine could not be started.
    #[error("the script could not be checked: {0}")]
    Engine(String),
}

/// A malformed `// @custos-allow-https` line is rejected at save time like a syntax error,
/// with its position.
impl From<crate::DirectiveError> for ScriptError {
    fn from(error: crate::DirectiveError) -> Self {
        Self::Syntax {
            message: format!("{}: {}", crate::DIRECTIVE, error.message),
            line: error.line,
            column: error.column,
        }
    }
}

/// How a customer's script is wrapped before the engine evaluates it. The prefix must not
/// contain a newline, so lines in errors stay the lines the customer wrote.
pub(crate) struct Wrapping {
    pub(crate) prefix: &'static str,
    pub(crate) suffix: &'static str,
    /// The file name the script is compiled under, so locations in errors can be found again.
    pub(crate) file: &'static str,
}

/// A Rule: the parentheses make `function (…) {…}` an expression; the newline keeps a trailing
/// line comment from swallowing the closing parenthesis.
pub(crate) const RULE: Wrapping = Wrapping {
    prefix: "(",
    suffix: "\n)",
    file: "rule.js",
};

/// Checks that `script` parses and evaluates to a function, without calling it, and that its
/// `// @custos-allow-https` lines, if any, are well-formed.
///
/// Evaluating the function expression runs none of its body. A script that closes the
/// expression early and runs code of its own does so here under the default limits, in a
/// throw-away runtime.
pub fn compile_check(script: &str) -> Result<(), ScriptError> {
    crate::AllowList::parse(script)?;
    check(&RULE, script)
}

/// Evaluates `script` in its wrapping in a throw-away sandbox, and drops the function.
pub(crate) fn check(wrapping: &Wrapping, script: &str) -> Result<(), ScriptError> {
    let sandbox =
        Sandbox::new(Limits::default()).map_err(|e| ScriptError::Engine(e.to_string()))?;
    let ended = sandbox
        .execute(|ctx, _| load_function(&ctx, wrapping, script).map(|_| ()))
        .map_err(|e| ScriptError::Engine(e.to_string()))?;
    match ended {
        Ended::Returned(result) => result,
        Ended::TimedOut => Err(ScriptError::Load("time limit exceeded".to_owned())),
    }
}

/// Evaluates the wrapped script in `ctx` and returns the function it evaluates to.
pub(crate) fn load_function<'js>(
    ctx: &Ctx<'js>,
    wrapping: &Wrapping,
    script: &str,
) -> Result<rquickjs::Function<'js>, ScriptError> {
    let source = [wrapping.prefix, script, wrapping.suffix].concat();
    let mut options = EvalOptions::default();
    // Auth0 runs Rules and Actions (CommonJS modules) in sloppy mode; strict mode would reject
    // scripts that work there.
    options.strict = false;
    options.filename = Some(wrapping.file.to_owned());
    match ctx.eval_with_options::<Value, _>(source, options) {
        Ok(value) => match value.into_function() {
            Some(function) => Ok(function),
            None => Err(ScriptError::NotAFunction {
                found: "something else".to_owned(),
            }),
        },
        Err(error) => Err(classify(ctx, error, wrapping, script)),
    }
}

fn classify(ctx: &Ctx<'_>, error: Error, wrapping: &Wrapping, script: &str) -> ScriptError {
    if !error.is_exception() {
        return ScriptError::Load(error.to_string());
    }
    let thrown = ctx.catch();
    let Some(exception) = thrown.as_object().cloned().and_then(Exception::from_object) else {
        return ScriptError::Load(describe_value(ctx, thrown));
    };
    let name: Option<String> = exception.get("name").ok();
    let message = exception.message().unwrap_or_default();
    if name.as_deref() == Some("SyntaxError") {
        if let Some((line, column)) = exception
            .stack()
            .as_deref()
            .and_then(|stack| location(stack, wrapping.file))
        {
            let (line, column) = in_script(wrapping, script, line, column);
            return ScriptError::Syntax {
                message,
                line,
                column,
            };
        }
    }
    ScriptError::Load(describe_exception(&exception))
}

/// A location in the wrapped source as a location in the script as written: the prefix shifts
/// the first line's columns, and an error past the script's end (an unclosed brace, found at
/// the wrapping's closing characters) is put just after its last character.
fn in_script(wrapping: &Wrapping, script: &str, line: u32, column: u32) -> (u32, u32) {
    let lines = u32::try_from(script.split('\n').count()).unwrap_or(u32::MAX);
    if line > lines {
        let last = script.rsplit('\n').next().unwrap_or_default();
        let width = u32::try_from(last.chars().count()).unwrap_or(u32::MAX);
        return (lines, width.saturating_add(1));
    }
    if line == 1 {
        let shift = u32::try_from(wrapping.prefix.chars().count()).unwrap_or(0);
        return (line, column.saturating_sub(shift).max(1));
    }
    (line, column)
}

/// The first `FILE:LINE:COLUMN` in a stack trace.
fn location(stack: &str, file: &str) -> Option<(u32, u32)> {
    let marker = format!("{file}:");
    let start = stack.find(&marker)? + marker.len();
    let mut parts = stack[start..].split(':');
    let line = parts.next()?.parse().ok()?;
    let column: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((line, column.parse().ok()?))
}

/// `Name: message` for a thrown error.
pub(crate) fn describe_exception(exception: &Exception<'_>) -> String {
    let name: Option<String> = exception.get("name").ok();
    let message = exception.message().unwrap_or_default();
    match name {
        Some(name) if !name.is_empty() => format!("{name}: {message}"),
        _ => message,
    }
}

/// A short text for any thrown value.
/// An engine error as text: the thrown value's description for an exception, else the
/// error itself.
pub(crate) fn describe_error(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    if error.is_exception() {
        describe_value(ctx, ctx.catch())
    } else {
        error.to_string()
    }
}

pub(crate) fn describe_value<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(exception) = value.as_object().cloned().and_then(Exception::from_object) {
        return describe_exception(&exception);
    }
    if let Some(string) = value.as_string().and_then(|s| s.to_string().ok()) {
        return string;
    }
    match ctx.json_stringify(value) {
        Ok(Some(text)) => text.to_string().unwrap_or_default(),
        _ => "a value that cannot be shown".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn syntax(script: &str) -> (u32, u32) {
        match compile_check(script) {
            Err(ScriptError::Syntax { line, column, .. }) => (line, column),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_rule_passes() {
        assert_eq!(
            compile_check("function (user, context, callback) { callback(null, user, context); }"),
            Ok(())
        );
    }

    #[test]
    fn a_trailing_line_comment_is_fine() {
        assert_eq!(
            compile_check("function (u, c, cb) { cb(null, u, c); } // done"),
            Ok(())
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let script = "function (user, context, callback) {\n  var x = ;\n}";
        let (line, column) = syntax(script);
        assert_eq!(line, 2);
        assert!((9..=11).contains(&column), "column {column}");
        let error = compile_check(script).unwrap_err().to_string();
        assert!(
            error.starts_with("syntax error at line 2, column"),
            "{error}"
        );
    }

    #[test]
    fn syntax_error_on_the_first_line() {
        let (line, _) = syntax("function (user, context, callback { }");
        assert_eq!(line, 1);
    }

    #[test]
    fn a_non_function_is_rejected() {
        assert!(matches!(
            compile_check("42"),
            Err(ScriptError::NotAFunction { .. })
        ));
    }

    #[test]
    fn code_run_while_loading_is_contained() {
        let script = "function () {})(); while (true) {} (function () {}";
        assert!(matches!(compile_check(script), Err(ScriptError::Load(_))));
    }
}
