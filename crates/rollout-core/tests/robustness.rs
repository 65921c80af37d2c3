//! Bad input never panics: strategy files (random text, and the shipped files edited at
//! random) and image references. Every input gets a value or an error naming where it came
//! from. `scripts/fuzz.sh` runs the same properties with many more cases.

use proptest::prelude::*;
use rollout_core::image;
use rollout_core::spec;

const SHIPPED: [&str; 6] = [
    include_str!("../../../strategies/canary.yaml"),
    include_str!("../../../strategies/blue-green.yaml"),
    include_str!("../../../strategies/rolling.yaml"),
    include_str!("../../../strategies/recreate.yaml"),
    include_str!("../../../strategies/ab.yaml"),
    include_str!("../../../strategies/shadow.yaml"),
];

/// One edit of a text: at a position (a fraction of its length), delete some characters,
/// insert a fragment, or repeat a line.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, String),
    RepeatLine(f64),
}

/// Fragments that YAML and the strategy reader treat specially.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(":".to_owned()),
        Just("- ".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("{".to_owned()),
        Just("[".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("!!binary ".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("%".to_owned()),
        Just("-1".to_owned()),
        Just("1e999".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("0s".to_owned()),
        Just("99999999h".to_owned()),
        Just("<<: *a".to_owned()),
        Just("\t".to_owned()),
        Just("é".to_owned()),
        "[ -~]{0,12}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, 0usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, fragment()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..1.0f64).prop_map(Edit::RepeatLine),
    ]
}

/// The character boundary nearest below `at` × the text's length.
fn boundary(text: &str, at: f64) -> usize {
    // Truncation is intended: a position inside the text.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut i = ((text.len() as f64) * at) as usize;
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_owned();
    for e in edits {
        match e {
            Edit::Delete(at, n) => {
                let start = boundary(&t, *at);
                let mut end = (start + n).min(t.len());
                while !t.is_char_boundary(end) {
                    end += 1;
                }
                t.replace_range(start..end, "");
            }
            Edit::Insert(at, s) => {
                let i = boundary(&t, *at);
                t.insert_str(i, s);
            }
            Edit::RepeatLine(at) => {
                let i = boundary(&t, *at);
                let start = t[..i].rfind('\n').map_or(0, |p| p + 1);
                let end = t[i..].find('\n').map_or(t.len(), |p| i + p + 1);
                let line = t[start..end].to_owned();
                t.insert_str(end, &line);
            }
        }
    }
    t
}

/// Parses `text` as a strategy file: whatever the answer, it must come back (no panic), and an
/// error must name the file.
fn parse_answers(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = spec::parse(text, "fuzzed.yaml") {
        let message = e.to_string();
        prop_assert!(
            message.contains("fuzzed.yaml"),
            "the error does not name the file: {message}"
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn shipped_strategy_files_edited_at_random_never_panic(
        which in 0..SHIPPED.len(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        parse_answers(&apply(SHIPPED[which], &edits))?;
    }

    #[test]
    fn random_text_as_a_strategy_file_never_panics(text in "(\\PC|\n|  |: |- ){0,200}") {
        parse_answers(&text)?;
    }

    #[test]
    fn image_references_never_panic(current in "\\PC{0,60}", wanted in "\\PC{0,60}") {
        let _ = image::ImageRef::parse(&wanted);
        if let Ok(resolved) = image::resolve(&current, &wanted) {
            // What the container will run is itself a valid reference.
            prop_assert!(image::ImageRef::parse(&resolved).is_ok(), "{resolved:?}");
        }
    }

    #[test]
    fn image_references_of_registry_shape_never_panic(
        wanted in "([a-z0-9.-]{0,12}(:[0-9]{1,6})?/)?[a-z0-9._/-]{0,20}(:[A-Za-z0-9._-]{0,20})?(@sha256:[0-9a-f]{0,64})?",
    ) {
        let _ = image::ImageRef::parse(&wanted);
        let _ = image::resolve("registry.example:5000/team/web:1.0", &wanted);
    }
}
