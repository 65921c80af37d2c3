//! Bad experiment files never panic: the shipped experiments edited at random, and random
//! text, get a value or an error that names the file. `scripts/fuzz.sh` runs this with many more
//! cases.

use proptest::prelude::*;

const SHIPPED: [&str; 5] = [
    include_str!("../../experiments/abort-mid-canary.yaml"),
    include_str!("../../experiments/blue-green-no-downtime.yaml"),
    include_str!("../../experiments/canary-catches-degradation.yaml"),
    include_str!("../../experiments/canary-catches-regression.yaml"),
    include_str!("../../experiments/recreate-downtime.yaml"),
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(":".to_owned()),
        Just("- ".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("{".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("NaN".to_owned()),
        Just("1e999".to_owned()),
        Just("< 1%".to_owned()),
        Just(">= ".to_owned()),
        Just("wait: ".to_owned()),
        "[ -~]{0,10}",
    ]
}

/// The text with `cut` characters removed at `at` and `insert` put there.
fn edited(text: &str, at: usize, cut: usize, insert: &str) -> String {
    let mut start = at.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + cut).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    format!("{}{insert}{}", &text[..start], &text[end..])
}

fn parse_answers(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = rollout::lab::experiment::parse(text, "fuzzed.yaml") {
        prop_assert!(
            e.contains("fuzzed.yaml"),
            "the error does not name the file: {e}"
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn shipped_experiments_edited_at_random_never_panic(
        which in 0..SHIPPED.len(),
        edits in prop::collection::vec((0usize..2000, 0usize..30, fragment()), 1..5),
    ) {
        let mut text = SHIPPED[which].to_owned();
        for (at, cut, insert) in &edits {
            text = edited(&text, *at, *cut, insert);
        }
        parse_answers(&text)?;
    }

    #[test]
    fn random_text_as_an_experiment_never_panics(text in "(\\PC|\n|  |: |- ){0,200}") {
        parse_answers(&text)?;
    }
}
