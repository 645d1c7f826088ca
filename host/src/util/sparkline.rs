//! ASCII sparklines as Redis draws them for LATENCY GRAPH (its sparkline.c,
//! "fill" style): each column a sample scaled between the sequence's min and
//! max over `rows` text rows of three levels each (`_`, `o`, `#`, with `|`
//! below the top), then each sample's label written vertically underneath.

/// The fill style's three levels within a row.
const FILL: &[u8; 3] = b"_o#";
/// Blank rows between the graph and the labels.
const LABEL_MARGIN_TOP: usize = 1;

pub struct Sequence {
    samples: Vec<(f64, Option<String>)>,
    min: f64,
    max: f64,
    labels: usize,
}

impl Sequence {
    pub fn new() -> Sequence {
        Sequence {
            samples: Vec::new(),
            min: 0.0,
            max: 0.0,
            labels: 0,
        }
    }

    pub fn push(&mut self, value: f64, label: &str) {
        if self.samples.is_empty() {
            (self.min, self.max) = (value, value);
        } else if value < self.min {
            self.min = value;
        } else if value > self.max {
            self.max = value;
        }
        let label = (!label.is_empty()).then(|| label.to_string());
        self.labels += label.is_some() as usize;
        self.samples.push((value, label));
    }

    /// Renders `columns` samples per block, blocks separated by a newline.
    pub fn render(&self, out: &mut String, columns: usize, rows: usize) {
        let mut j = 0;
        while j < self.samples.len() {
            let len = (self.samples.len() - j).min(columns);
            if j != 0 {
                out.push('\n');
            }
            self.render_range(out, rows, j, len);
            j += columns;
        }
    }

    fn render_range(&self, out: &mut String, rows: usize, offset: usize, len: usize) {
        let mut relmax = self.max - self.min;
        if relmax == 0.0 {
            relmax = 1.0;
        }
        let steps = (FILL.len() * rows) as i64;
        let mut row = 0usize;
        loop {
            let mut more = false;
            let mut chars = vec![b' '; len];
            for (j, c) in chars.iter_mut().enumerate() {
                let (value, label) = &self.samples[j + offset];
                let relval = value - self.min;
                // C truncates (int)(relval*steps) before dividing.
                let step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                if row < rows {
                    let idx = step - ((rows - row - 1) * FILL.len()) as i64;
                    more = true;
                    if (0..FILL.len() as i64).contains(&idx) {
                        *c = FILL[idx as usize];
                    } else if idx >= FILL.len() as i64 {
                        *c = b'|';
                    }
                } else {
                    if self.labels > 0 && row - rows < LABEL_MARGIN_TOP {
                        more = true;
                        break;
                    }
                    if let Some(label) = label {
                        let at = row - rows - LABEL_MARGIN_TOP;
                        if let Some(&b) = label.as_bytes().get(at) {
                            more = true;
                            *c = b;
                        }
                    }
                }
            }
            if !more {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&chars));
            out.push('\n');
        }
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence::new()
    }
}
