//! Go's `text/tabwriter` as etcdctl configures it for help output
//! (minwidth 0, tabwidth 8, padding 1, padding with tabs): cells are
//! tab-terminated, and each column block is padded to a common width.
//!
//! Written by hand because the help text must match the Go etcdctl byte for
//! byte and Go pads these columns with tab characters (`padchar '\t'`,
//! rounded up to the tab width), which the `tabwriter` crate cannot do: it
//! pads with spaces only.

const TAB_WIDTH: usize = 8;
const PADDING: usize = 1;

/// Aligns tab-separated cells of `text` exactly like etcdctl's tabwriter.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() + 64);
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), &mut widths, &mut out);
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Port of tabwriter's recursive `format`: finds column blocks for the
/// column `widths.len()` in lines `[start, end)` and writes them out.
fn format_block(
    lines: &[Vec<&str>],
    start: usize,
    end: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut line0 = start;
    let mut this = start;
    while this < end {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = 0;
        while this < end && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + PADDING);
            this += 1;
        }
        widths.push(w);
        format_block(lines, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, end, widths, out);
}

fn write_lines(lines: &[Vec<&str>], start: usize, end: usize, widths: &[usize], out: &mut String) {
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let cellw = widths[j].div_ceil(TAB_WIDTH) * TAB_WIDTH;
                let n = cellw - width(cell);
                for _ in 0..n.div_ceil(TAB_WIDTH) {
                    out.push('\t');
                }
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn pads_columns_with_tabs() {
        let text = "a\tx\nlonger-cell-name\ty\n\n\tgrant\tCreates\n\tkeep-alive\tKeeps\n";
        assert_eq!(
            align(text),
            "a\t\t\tx\nlonger-cell-name\ty\n\n\tgrant\t\tCreates\n\tkeep-alive\tKeeps\n"
        );
    }
}
