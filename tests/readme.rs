//! The README's command list is generated from the command table; this test
//! fails when they differ. Regenerate with
//! `EMBER_UPDATE_README=1 cargo test --test readme`.

const BEGIN: &str = "<!-- BEGIN GENERATED COMMAND LIST -->";
const END: &str = "<!-- END GENERATED COMMAND LIST -->";

#[test]
fn readme_command_list_matches_the_command_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md at the repository root");
    let table = ember::commands::table::CommandTable::new(&ember::commands::builtin_families());
    let generated = table.markdown();
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the {BEGIN} / {END} markers");
    };
    let current = &readme[b + BEGIN.len()..e];
    if current.trim() == generated.trim() {
        return;
    }
    if std::env::var_os("EMBER_UPDATE_README").is_some() {
        let updated = format!(
            "{}{}\n{}\n{}",
            &readme[..b],
            BEGIN,
            generated.trim(),
            &readme[e..]
        );
        std::fs::write(path, updated).expect("write README.md");
        return;
    }
    panic!(
        "README.md's command list is stale: run `EMBER_UPDATE_README=1 cargo test --test readme`"
    );
}
