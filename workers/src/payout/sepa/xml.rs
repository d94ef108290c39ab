//! The pain.001.001.03 document (ISO 20022 customer credit transfer
//! initiation) of one SEPA batch: one group header, one payment
//! information block debiting the platform's account, one transaction per
//! payout. Text is reduced to the SEPA character set (EPC guidelines).

use quick_xml::{
    Writer,
    events::{BytesDecl, BytesText, Event},
};
use std::io;

/// The document's namespace.
pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";

/// The account paying: the platform.
#[derive(Debug, Clone)]
pub struct Debtor {
    /// Name.
    pub name: String,
    /// IBAN.
    pub iban: String,
    /// BIC.
    pub bic: String,
}

/// One credit transfer.
#[derive(Debug, Clone)]
pub struct Credit {
    /// EndToEndId: the payout id (at most 35 characters).
    pub end_to_end_id: String,
    /// Euro cents, positive.
    pub amount_cents: i64,
    /// Creditor name.
    pub name: String,
    /// Creditor IBAN.
    pub iban: String,
    /// Creditor BIC.
    pub bic: String,
    /// Unstructured remittance text.
    pub remittance: String,
}

/// A batch to write.
#[derive(Debug, Clone)]
pub struct Batch {
    /// MsgId (also the PmtInfId's stem), at most 30 characters.
    pub message_id: String,
    /// Creation time, `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub created: String,
    /// Requested execution date, `YYYY-MM-DD`.
    pub execution_date: String,
    /// Who pays.
    pub debtor: Debtor,
    /// The transfers, at least one.
    pub credits: Vec<Credit>,
}

/// `cents` as a decimal amount with two fraction digits.
pub fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `text` in the SEPA character set (Latin letters, digits, `/-?:().,'+` and
/// space): common accented letters lose their accents, anything else
/// becomes a space; trimmed to `max` characters.
pub fn sepa_text(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A",
            'æ' => "ae",
            'Æ' => "AE",
            'ç' => "c",
            'Ç' => "C",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'È' | 'É' | 'Ê' | 'Ë' => "E",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'Ì' | 'Í' | 'Î' | 'Ï' => "I",
            'ñ' => "n",
            'Ñ' => "N",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
            'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
            'ý' | 'ÿ' => "y",
            'Ý' => "Y",
            'ß' => "ss",
            c if c.is_ascii_alphanumeric() || "/-?:().,'+ ".contains(c) => {
                out.push(c);
                continue;
            }
            _ => " ",
        };
        out.push_str(folded);
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed: String = collapsed.chars().take(max).collect();
    let trimmed = trimmed.trim().to_owned();
    if trimmed.is_empty() {
        "NOTPROVIDED".to_owned()
    } else {
        trimmed
    }
}

fn text(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

fn agent(w: &mut Writer<Vec<u8>>, name: &str, bic: &str) -> io::Result<()> {
    w.create_element(name).write_inner_content(|w| {
        w.create_element("FinInstnId")
            .write_inner_content(|w| text(w, "BIC", bic))?;
        Ok(())
    })?;
    Ok(())
}

fn account(w: &mut Writer<Vec<u8>>, name: &str, iban: &str) -> io::Result<()> {
    w.create_element(name).write_inner_content(|w| {
        w.create_element("Id")
            .write_inner_content(|w| text(w, "IBAN", iban))?;
        Ok(())
    })?;
    Ok(())
}

fn party(w: &mut Writer<Vec<u8>>, name: &str, who: &str) -> io::Result<()> {
    w.create_element(name)
        .write_inner_content(|w| text(w, "Nm", &sepa_text(who, 70)))?;
    Ok(())
}

/// The XML of `batch`.
pub fn write(batch: &Batch) -> io::Result<Vec<u8>> {
    let count = batch.credits.len().to_string();
    let sum = amount(batch.credits.iter().map(|c| c.amount_cents).sum());
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("Document")
        .with_attribute(("xmlns", NAMESPACE))
        .write_inner_content(|w| {
            w.create_element("CstmrCdtTrfInitn")
                .write_inner_content(|w| {
                    w.create_element("GrpHdr").write_inner_content(|w| {
                        text(w, "MsgId", &batch.message_id)?;
                        text(w, "CreDtTm", &batch.created)?;
                        text(w, "NbOfTxs", &count)?;
                        text(w, "CtrlSum", &sum)?;
                        party(w, "InitgPty", &batch.debtor.name)
                    })?;
                    w.create_element("PmtInf").write_inner_content(|w| {
                        text(w, "PmtInfId", &format!("{}-1", batch.message_id))?;
                        text(w, "PmtMtd", "TRF")?;
                        text(w, "BtchBookg", "true")?;
                        text(w, "NbOfTxs", &count)?;
                        text(w, "CtrlSum", &sum)?;
                        w.create_element("PmtTpInf").write_inner_content(|w| {
                            w.create_element("SvcLvl")
                                .write_inner_content(|w| text(w, "Cd", "SEPA"))?;
                            Ok(())
                        })?;
                        text(w, "ReqdExctnDt", &batch.execution_date)?;
                        party(w, "Dbtr", &batch.debtor.name)?;
                        account(w, "DbtrAcct", &batch.debtor.iban)?;
                        agent(w, "DbtrAgt", &batch.debtor.bic)?;
                        text(w, "ChrgBr", "SLEV")?;
                        for c in &batch.credits {
                            w.create_element("CdtTrfTxInf").write_inner_content(|w| {
                                w.create_element("PmtId").write_inner_content(|w| {
                                    text(w, "EndToEndId", &c.end_to_end_id)
                                })?;
                                w.create_element("Amt").write_inner_content(|w| {
                                    w.create_element("InstdAmt")
                                        .with_attribute(("Ccy", "EUR"))
                                        .write_text_content(BytesText::new(&amount(
                                            c.amount_cents,
                                        )))?;
                                    Ok(())
                                })?;
                                agent(w, "CdtrAgt", &c.bic)?;
                                party(w, "Cdtr", &c.name)?;
                                account(w, "CdtrAcct", &c.iban)?;
                                w.create_element("RmtInf").write_inner_content(|w| {
                                    text(w, "Ustrd", &sepa_text(&c.remittance, 140))
                                })?;
                                Ok(())
                            })?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
            Ok(())
        })?;
    let mut out = w.into_inner();
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_text() {
        assert_eq!(amount(1), "0.01");
        assert_eq!(amount(123_456), "1234.56");
        assert_eq!(
            sepa_text("Jürgen Müller & Söhne <GmbH>", 70),
            "Jurgen Muller Sohne GmbH"
        );
        assert_eq!(sepa_text("Ærøskøbing", 70), "AEroskobing");
        assert_eq!(sepa_text("&&&", 70), "NOTPROVIDED");
        assert_eq!(sepa_text(&"x".repeat(100), 70).len(), 70);
    }
}
