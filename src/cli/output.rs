//! Human output: aligned tables and `key: value` blocks, with every control character in
//! user-supplied text escaped so nothing reaches the terminal as an escape sequence; `--json`
//! prints the same data as JSON instead.

use anyhow::Result;
use serde::Serialize;

/// `text` with control characters (C0, DEL, C1, and the bidi overrides) shown as `\u{..}`
/// escapes, so a name or issuer cannot move the cursor, retitle the terminal or reorder text.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`printable`] for messages of several lines: line breaks and tabs stay, every other control
/// character is escaped (an error may quote a name the user typed).
pub(crate) fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            line.split('\t')
                .map(printable)
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// `--json` for read commands: JSON instead of a table.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table: a header row and rows of cells, printed with columns aligned (two spaces apart).
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new(header: Vec<&'static str>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells are escaped with [`printable`]).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| printable(c)).collect());
    }

    /// Prints the table to standard output.
    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }

    fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = String::new();
            for (i, cell) in cells.iter().enumerate().take(cols) {
                if i + 1 == cols {
                    l.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    l.push_str(cell);
                    l.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(
            &self
                .header
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>(),
        );
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// Prints `key: value` lines, the keys aligned (values escaped with [`printable`]).
pub(crate) fn print_fields(fields: &[(&str, String)]) {
    let w = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in fields {
        println!("{:<w$} {}", format!("{k}:"), printable(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain ü"), "plain ü");
        assert_eq!(printable("\u{1b}]0;title\u{7}x"), "\\u{1b}]0;title\\u{7}x");
        assert_eq!(printable("a\u{0}b\u{9b}c"), "a\\u{0}b\\u{9b}c");
        assert_eq!(printable("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(printable("new\nline"), "new\\u{a}line");
        assert_eq!(printable_lines("a\n\tb\u{1b}[2J"), "a\n\tb\\u{1b}[2J");
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(vec!["NAME", "RP"]);
        t.row(vec!["a".into(), "example.com".into()]);
        t.row(vec!["longer".into(), "x".into()]);
        assert_eq!(t.render(), "NAME    RP\na       example.com\nlonger  x\n");
    }
}
