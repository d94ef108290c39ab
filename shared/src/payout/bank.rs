//! Where a seller is paid: bank details checked as SEPA requires (IBAN with
//! its ISO 13616 checksum and national length, BIC per ISO 9362) and a Stripe
//! connected account id. Stored sealed (see [`crate::seal`]).

use serde::{Deserialize, Serialize};

/// IBAN lengths of the SEPA countries and territories (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("VA", 22),
];

/// `iban` without spaces and in upper case, if it is a valid IBAN of a SEPA country.
pub fn check_iban(iban: &str) -> Result<String, String> {
    let iban: String = iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if iban.len() < 5 || !iban.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(
            "an IBAN is a country code, two check digits and the account, letters and digits only"
                .to_owned(),
        );
    }
    let country = &iban[..2];
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
        return Err(format!("{country} is not a SEPA country"));
    };
    if iban.len() != len {
        return Err(format!(
            "an IBAN of {country} has {len} characters, not {}",
            iban.len()
        ));
    }
    if !iban[2..4].bytes().all(|b| b.is_ascii_digit()) {
        return Err("the IBAN's check digits are not digits".to_owned());
    }
    // ISO 7064 MOD 97-10 over the account followed by country and check digits, letters as 10-35.
    let mut rem: u32 = 0;
    for b in iban[4..].bytes().chain(iban[..4].bytes()) {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if value >= 10 {
            (rem * 100 + value) % 97
        } else {
            (rem * 10 + value) % 97
        };
    }
    if rem != 1 {
        return Err("the IBAN's check digits do not match (a typo?)".to_owned());
    }
    Ok(iban)
}

/// `bic` in upper case, if it is a valid BIC: 4 letters (bank), 2 letters
/// (country), 2 letters or digits (location), optionally 3 more (branch).
pub fn check_bic(bic: &str) -> Result<String, String> {
    let bic = bic.trim().to_ascii_uppercase();
    let b = bic.as_bytes();
    let ok = (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..].iter().all(u8::is_ascii_alphanumeric);
    if ok {
        Ok(bic)
    } else {
        Err("a BIC has 8 or 11 characters: bank (4 letters), country (2 letters), location (2), branch (3, optional)".to_owned())
    }
}

/// Bank details for SEPA credit transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccount {
    /// The account holder's name.
    pub name: String,
    /// IBAN, normalised.
    pub iban: String,
    /// BIC, normalised.
    pub bic: String,
}

impl BankAccount {
    /// Checked and normalised bank details; the error names the field.
    pub fn new(name: &str, iban: &str, bic: &str) -> Result<BankAccount, (&'static str, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 70 {
            return Err((
                "name",
                "the account holder's name has 1 to 70 characters".to_owned(),
            ));
        }
        Ok(BankAccount {
            name: name.to_owned(),
            iban: check_iban(iban).map_err(|e| ("iban", e))?,
            bic: check_bic(bic).map_err(|e| ("bic", e))?,
        })
    }
}

/// A Stripe connected account id (`acct_…`), if well-formed.
pub fn check_stripe_account(id: &str) -> Result<String, String> {
    let rest = id.strip_prefix("acct_").unwrap_or_default();
    if !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id.to_owned())
    } else {
        Err("a Stripe connected account id looks like `acct_1A2b3C`".to_owned())
    }
}

/// Everything a seller is paid to; sealed as one JSON value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutDestination {
    /// Bank details for SEPA.
    pub bank: Option<BankAccount>,
    /// Stripe connected account id.
    pub stripe_account: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans() {
        assert_eq!(
            check_iban("de89 3704 0044 0532 0130 00").unwrap(),
            "DE89370400440532013000"
        );
        assert!(check_iban("FR1420041010050500013M02606").is_ok());
        assert!(check_iban("GB82WEST12345698765432").is_ok());
        assert!(check_iban("NL91ABNA0417164300").is_ok());
        assert!(
            check_iban("DE89370400440532013001")
                .unwrap_err()
                .contains("check digits")
        );
        assert!(
            check_iban("DE8937040044053201300")
                .unwrap_err()
                .contains("22 characters")
        );
        assert!(
            check_iban("US64SVBKUS6S3300958879")
                .unwrap_err()
                .contains("SEPA")
        );
        assert!(check_iban("DE89-3704").is_err());
        assert!(check_iban("").is_err());
    }

    #[test]
    fn bics() {
        assert_eq!(check_bic("cobadeffxxx").unwrap(), "COBADEFFXXX");
        assert!(check_bic("COBADEFF").is_ok());
        assert!(check_bic("COBADEF").is_err());
        assert!(check_bic("C0BADEFF").is_err());
        assert!(check_bic("COBADEFF1").is_err());
    }

    #[test]
    fn bank_account_names_the_bad_field() {
        assert_eq!(BankAccount::new(" ", "x", "y").unwrap_err().0, "name");
        assert_eq!(
            BankAccount::new("A", "x", "COBADEFF").unwrap_err().0,
            "iban"
        );
        assert_eq!(
            BankAccount::new("A", "DE89370400440532013000", "x")
                .unwrap_err()
                .0,
            "bic"
        );
        assert!(check_stripe_account("acct_1Abc").is_ok());
        assert!(check_stripe_account("acct_").is_err());
        assert!(check_stripe_account("cus_1").is_err());
    }
}
