//! The hostile-input table (`tests/hostile/cases.rs`) through the library: every image case is
//! analysed or refused with a one-line message naming the file, never a panic; every damaged,
//! foreign or poisoned weight file is refused naming the file (and the tensor, where one is at
//! fault), and a pickle is never executed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "hostile/cases.rs"]
mod cases;

use cases::{Case, Churn, Expect};
use featurescope_net::{BackendChoice, Network, preprocess};

fn check(case: &Case, result: Result<(), String>, centre: Option<[u8; 3]>) -> Option<String> {
    let shown = case.path.display().to_string();
    match (&case.expect, result) {
        (Expect::Analysed(want), Ok(())) => match (want, centre) {
            (Some(w), Some(c)) if w.iter().zip(&c).any(|(a, b)| a.abs_diff(*b) > 12) => Some(
                format!("{}: centre pixel {c:?}, expected about {w:?}", case.name),
            ),
            _ => None,
        },
        (Expect::Analysed(_), Err(e)) => {
            Some(format!("{}: refused ({e}), expected analysed", case.name))
        }
        (Expect::Refused(_), Ok(())) => Some(format!("{}: analysed, expected refused", case.name)),
        (Expect::Refused(_), Err(e)) if e.contains('\n') => {
            Some(format!("{}: message is not one line: {e:?}", case.name))
        }
        (Expect::Refused(text), Err(e)) => {
            let names_file = e.contains(&shown) || e.contains(&*case.path.to_string_lossy());
            if !names_file || !e.contains(text) {
                Some(format!(
                    "{}: message {e:?} should name the file and say {text:?}",
                    case.name
                ))
            } else {
                None
            }
        }
    }
}

#[test]
fn every_hostile_image_is_analysed_or_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in cases::image_cases(dir.path()) {
        let outcome = std::panic::catch_unwind(|| preprocess::load_input(&case.path));
        let Ok(result) = outcome else {
            failures.push(format!("{}: PANIC", case.name));
            continue;
        };
        let centre = result.as_ref().ok().map(|i| i.crop.get_pixel(149, 149).0);
        let result = result.map(|_| ()).map_err(|e| e.to_string());
        eprintln!(
            "{:45} {:?}",
            case.name,
            result.as_ref().map_err(String::as_str)
        );
        failures.extend(check(&case, result, centre));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_file_rewritten_while_it_is_read_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let churn = Churn::start(dir.path());
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..200 {
        match preprocess::load_input(&churn.path) {
            Ok(input) => {
                assert_eq!(input.tensor.len(), 3 * 299 * 299);
                ok += 1;
            }
            Err(e) => {
                let e = e.to_string();
                assert!(!e.contains('\n') && e.contains("changing.png"), "{e}");
                refused += 1;
            }
        }
    }
    drop(churn);
    eprintln!("changing file: {ok} analysed, {refused} refused");
}

#[test]
fn every_hostile_weight_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = featurescope_net::device::select(BackendChoice::Cpu).unwrap();
    let mut failures = Vec::new();
    for case in cases::weight_cases(dir.path()) {
        let device = cpu.clone();
        let outcome = std::panic::catch_unwind(|| Network::load(&case.path, device));
        let Ok(result) = outcome else {
            failures.push(format!("{}: PANIC", case.name));
            continue;
        };
        let result = result.map(|_| ()).map_err(|e| e.to_string());
        eprintln!(
            "{:45} {:?}",
            case.name,
            result.as_ref().map_err(String::as_str)
        );
        failures.extend(check(&case, result, None));
    }
    assert!(
        !cases::pickle_marker(dir.path()).exists(),
        "a pickle's code ran"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
