//! The subset of olekukonko/tablewriter (the 2017 revision vendored by
//! etcd 3.4) used by etcdctl: ASCII borders, centered upper-case headers,
//! right-aligned cells, and word wrapping of cells longer than 30 columns.

const MAX_COL_WIDTH: usize = 30;
const PENALTY: i64 = 100_000;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Minimum-raggedness word wrap (tablewriter's `WrapWords`).
fn wrap_words(words: &[&str], lim: usize) -> Vec<String> {
    let n = words.len();
    let lim = lim as i64;
    let mut length = vec![vec![0i64; n]; n];
    for i in 0..n {
        length[i][i] = width(words[i]) as i64;
        for j in i + 1..n {
            length[i][j] = length[i][j - 1] + 1 + width(words[j]) as i64;
        }
    }
    let mut nbrk = vec![0usize; n];
    let mut cost = vec![i64::from(i32::MAX); n];
    for i in (0..n).rev() {
        if length[i][n - 1] <= lim || i == n - 1 {
            cost[i] = 0;
            nbrk[i] = n;
        } else {
            for j in i + 1..n {
                let d = lim - length[i][j - 1];
                let mut c = d * d + cost[j];
                if length[i][j - 1] > lim {
                    c += PENALTY;
                }
                if c < cost[i] {
                    cost[i] = c;
                    nbrk[i] = j;
                }
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        lines.push(words[i..nbrk[i]].join(" "));
        i = nbrk[i];
    }
    lines
}

/// tablewriter's `WrapString`.
fn wrap_string(s: &str, lim: usize) -> Vec<String> {
    let replaced = s.replace('\n', " ");
    let words: Vec<&str> = replaced.split(' ').collect();
    let lim = words.iter().map(|w| width(w)).fold(lim, usize::max);
    wrap_words(&words, lim)
}

fn pad_center(s: &str, w: usize) -> String {
    let gap = w.saturating_sub(width(s));
    let left = gap / 2;
    format!("{}{}{}", " ".repeat(left), s, " ".repeat(gap - left))
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{}", " ".repeat(w.saturating_sub(width(s))), s)
}

/// Renders a table the way etcdctl's `tablewriter` calls do.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut cs: Vec<usize> = vec![0; header.len()];
    for (i, h) in header.iter().enumerate() {
        cs[i] = cs[i].max(width(h).min(MAX_COL_WIDTH));
    }
    let mut cells: Vec<Vec<Vec<String>>> = Vec::new();
    for row in rows {
        let mut wrapped_row = Vec::new();
        for (i, cell) in row.iter().enumerate() {
            let w = width(cell).min(MAX_COL_WIDTH);
            if cs[i] < w || cs[i] == 0 {
                cs[i] = w;
            }
            let lines = wrap_string(cell, cs[i]);
            let longest = lines.iter().map(|l| width(l)).max().unwrap_or(0);
            cs[i] = cs[i].max(longest);
            wrapped_row.push(lines);
        }
        cells.push(wrapped_row);
    }

    let border: String = {
        let mut s = String::from("+");
        for w in &cs {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s.push('\n');
        s
    };
    let mut out = border.clone();
    for (i, h) in header.iter().enumerate() {
        out.push_str(&format!("| {} ", pad_center(&h.to_uppercase(), cs[i])));
    }
    out.push_str("|\n");
    out.push_str(&border);
    for row in &cells {
        let height = row.iter().map(Vec::len).max().unwrap_or(0);
        for line in 0..height {
            for (i, col) in row.iter().enumerate() {
                let text = col.get(line).map(String::as_str).unwrap_or("  ");
                out.push_str(&format!("| {} ", pad_left(text, cs[i])));
            }
            out.push_str("|\n");
        }
    }
    out.push_str(&border);
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn renders_like_tablewriter() {
        let out = render(
            &["endpoint", "hash"],
            &[vec!["127.0.0.1:23791".into(), "2689891102".into()]],
        );
        assert_eq!(
            out,
            "+-----------------+------------+\n\
             |    ENDPOINT     |    HASH    |\n\
             +-----------------+------------+\n\
             | 127.0.0.1:23791 | 2689891102 |\n\
             +-----------------+------------+\n"
        );
    }

    #[test]
    fn wraps_long_cells() {
        let out = render(
            &["errors"],
            &[vec!["memberID:185828541645115251 alarm:NOSPACE ".into()]],
        );
        assert_eq!(
            out,
            "+--------------------------------+\n\
             |             ERRORS             |\n\
             +--------------------------------+\n\
             |    memberID:185828541645115251 |\n\
             |                 alarm:NOSPACE  |\n\
             +--------------------------------+\n"
        );
    }
}
