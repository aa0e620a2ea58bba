//! Random values from the operating system's CSPRNG.

use crate::{b64url, CryptoError};

/// `N` random bytes from the OS.
pub fn bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(buf)
}

/// An opaque bearer credential: 256 random bits, base64url (43 characters).
pub fn token() -> Result<String, CryptoError> {
    Ok(b64url(bytes::<32>()?))
}

/// `len` random characters from `[A-Za-z0-9]`, unbiased (rejection sampling).
pub fn alphanumeric(len: usize) -> Result<String, CryptoError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<64>()? {
            // 248 = 4 * 62: values at or above it would bias the distribution.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// `n` random bytes as lowercase hex (`2n` characters).
pub fn hex_id<const N: usize>() -> Result<String, CryptoError> {
    Ok(hex::encode(bytes::<N>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() -> Result<(), CryptoError> {
        assert_eq!(token()?.len(), 43);
        let a = alphanumeric(32)?;
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(hex_id::<12>()?.len(), 24);
        assert_ne!(token()?, token()?);
        Ok(())
    }
}
