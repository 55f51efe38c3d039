//! The documentation's links: every relative link and `#anchor` of the README, the pages of `docs/`,
//! BENCHMARKS.md, CHANGELOG.md and the crates' READMEs resolves. A path must name a file or a
//! directory of the repository; an anchor must be a heading of the Markdown file it points into, as
//! GitHub names its anchors, or an explicit HTML anchor (`<a name="...">`, `id="..."`). External
//! links (a scheme such as `https:` or `mailto:`) are not fetched.
//!
//! The Markdown is read by pulldown-cmark, so links inside code are not links, and reference links
//! are resolved as a renderer resolves them.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{BrokenLink, Event, LinkType, Options, Parser, Tag, TagEnd};

/// The repository as the checks see it: which paths exist, and the text of its Markdown files.
trait Tree {
    /// `None` when nothing is at `path`; `Some(None)` for a directory or a file that is not
    /// Markdown; `Some(Some(text))` for a Markdown file.
    fn lookup(&self, path: &Path) -> Option<Option<String>>;
}

/// The checkout on disk, `path` relative to its root.
struct Disk(PathBuf);

impl Tree for Disk {
    fn lookup(&self, path: &Path) -> Option<Option<String>> {
        let full = self.0.join(path);
        if full.is_dir() {
            return Some(None);
        }
        if !full.is_file() {
            return None;
        }
        Some(is_markdown(path).then(|| std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", path.display()))))
    }
}

fn is_markdown(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("md"))
}

fn options() -> Options {
    // GitHub Flavored Markdown's extensions: a link inside a table cell or a footnote counts too.
    Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The anchor GitHub gives a heading's text: lower case, spaces become `-`, every other character
/// that is not a letter, a digit, `-` or `_` is removed.
fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a Markdown text defines: its headings' slugs, a repeated slug numbered `-1`, `-2`,
/// ... in order as GitHub numbers them, and the `name` and `id` attributes of its HTML.
fn anchors(text: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    // github-slugger's bookkeeping: each slug given, with the last number used after it.
    let mut given: HashMap<String, usize> = HashMap::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(text, options()) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                let mut anchor = base.clone();
                while given.contains_key(&anchor) {
                    let count = given.get_mut(&base).expect("the base slug was given first");
                    *count += 1;
                    anchor = format!("{base}-{count}");
                }
                given.insert(anchor.clone(), 0);
                found.insert(anchor);
            }
            Event::Text(part) | Event::Code(part) => {
                if let Some(heading) = heading.as_mut() {
                    heading.push_str(&part);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(heading) = heading.as_mut() {
                    heading.push(' ');
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => found.extend(html_anchors(&html)),
            _ => {}
        }
    }
    found
}

/// The values of the `name` and `id` attributes in a piece of HTML.
fn html_anchors(html: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    for attribute in ["name", "id"] {
        for quote in ['"', '\''] {
            let pattern = format!("{attribute}={quote}");
            let mut rest = html;
            while let Some(at) = rest.find(&pattern) {
                let preceded_by_space = at == 0 || rest[..at].ends_with(char::is_whitespace);
                rest = &rest[at + pattern.len()..];
                if let (true, Some(end)) = (preceded_by_space, rest.find(quote)) {
                    anchors.push(rest[..end].to_owned());
                }
            }
        }
    }
    anchors
}

/// A link of a Markdown text: where it points, and on which line.
struct Link {
    line: usize,
    destination: String,
}

/// The links and images of a Markdown text, and the reference links whose reference is not defined
/// (`[text][missing]`), as problems.
fn links(text: &str) -> (Vec<Link>, Vec<String>) {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut undefined = Vec::new();
    let callback = |broken: BrokenLink| {
        // A shortcut `[text]` with no definition is plain text on GitHub, not a link.
        if matches!(broken.link_type, LinkType::Reference | LinkType::Collapsed) {
            undefined.push(format!("line {}: the reference [{}] is not defined", line_of(broken.span.start), broken.reference));
        }
        None
    };
    let mut found = Vec::new();
    for (event, range) in Parser::new_with_broken_link_callback(text, options(), Some(callback)).into_offset_iter() {
        if let Event::Start(Tag::Link { link_type, dest_url, .. } | Tag::Image { link_type, dest_url, .. }) = event {
            // An email autolink (`<someone@example.com>`) has no scheme in its destination.
            if link_type != LinkType::Email {
                found.push(Link { line: line_of(range.start), destination: dest_url.into_string() });
            }
        }
    }
    (found, undefined)
}

/// A destination with a scheme (`https:`, `mailto:`, ...) leaves the repository.
fn is_external(destination: &str) -> bool {
    let end = destination.find(['/', '?', '#']).unwrap_or(destination.len());
    destination[..end].split_once(':').is_some_and(|(scheme, _)| {
        scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// `%20` and the like, as a browser decodes a path.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `base`'s directory joined with `relative`, `.` and `..` resolved; `None` when it leaves the
/// repository.
fn resolve(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut parts: Vec<Component> = base.parent().map(|dir| dir.components().collect()).unwrap_or_default();
    for component in Path::new(relative).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(_) => parts.push(component),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// GitHub's anchors of a line (`#L12`) or a range of lines (`#L12-L20`) in a file that is not rendered.
fn is_line_anchor(anchor: &str) -> bool {
    let line = |part: &str| part.strip_prefix('L').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    match anchor.split_once('-') {
        Some((from, to)) => line(from) && line(to),
        None => line(anchor),
    }
}

/// The problems of the Markdown file at `path` (relative to the root of `tree`), one sentence each.
fn problems(tree: &dyn Tree, path: &Path, text: &str) -> Vec<String> {
    let (links, mut problems) = links(text);
    let mut cache: HashMap<PathBuf, Option<HashSet<String>>> = HashMap::new();
    for link in links {
        if is_external(&link.destination) {
            continue;
        }
        let (target, anchor) = match link.destination.split_once('#') {
            Some((target, anchor)) => (target, Some(anchor)),
            None => (link.destination.as_str(), None),
        };
        let target = target.split_once('?').map_or(target, |(path, _query)| path);
        let at = format!("line {}: {}", link.line, link.destination);
        let resolved = if target.is_empty() {
            path.to_path_buf()
        } else {
            match resolve(path, &percent_decoded(target)) {
                Some(resolved) => resolved,
                None => {
                    problems.push(format!("{at}: the path leaves the repository"));
                    continue;
                }
            }
        };
        let anchors = cache.entry(resolved.clone()).or_insert_with(|| {
            if resolved == path {
                Some(Some(anchors(text)))
            } else {
                tree.lookup(&resolved).map(|markdown| markdown.map(|text| anchors(&text)))
            }
            .map(|anchors| anchors.unwrap_or_default())
        });
        let Some(anchors) = anchors else {
            problems.push(format!("{at}: {} does not exist", resolved.display()));
            continue;
        };
        let Some(anchor) = anchor.map(percent_decoded) else { continue };
        let found = if is_markdown(&resolved) { anchors.contains(&anchor) } else { is_line_anchor(&anchor) };
        if !found {
            problems.push(format!("{at}: {} has no anchor #{anchor}", resolved.display()));
        }
    }
    problems
}

// ----- the repository's documents --------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Paths under these are not the project's documents (builds, virtual environments, packages).
fn is_generated(path: &Path) -> bool {
    path.components().any(|component| {
        let name = component.as_os_str().to_string_lossy();
        name == "target" || name == "node_modules" || name == ".aws-sam" || name.starts_with(".venv")
    })
}

/// The documents whose links are checked, relative to the root: README.md, every `docs/*.md`,
/// BENCHMARKS.md, CHANGELOG.md when there is one, and every other README.md git knows of (tracked,
/// or new and not ignored).
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut documents: Vec<PathBuf> = ["README.md", "BENCHMARKS.md", "CHANGELOG.md"].iter().map(PathBuf::from).collect();
    for entry in std::fs::read_dir(root.join("docs")).expect("the docs/ directory") {
        let path = Path::new("docs").join(entry.unwrap().file_name());
        if is_markdown(&path) {
            documents.push(path);
        }
    }
    let listed = std::process::Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard", "--", "README.md", "*/README.md"])
        .current_dir(&root)
        .output()
        .expect("git, to list the READMEs of the repository");
    assert!(listed.status.success(), "git ls-files failed: {}", String::from_utf8_lossy(&listed.stderr));
    documents.extend(String::from_utf8(listed.stdout).unwrap().lines().map(PathBuf::from).filter(|path| !is_generated(path)));
    documents.sort();
    documents.dedup();
    documents.retain(|path| root.join(path).is_file() || path != Path::new("CHANGELOG.md"));
    documents
}

#[test]
fn every_relative_link_and_anchor_of_the_documentation_resolves() {
    let root = root();
    let disk = Disk(root.clone());
    let mut all = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(root.join(&document)).unwrap_or_else(|e| panic!("{}: {e}", document.display()));
        all.extend(problems(&disk, &document, &text).into_iter().map(|problem| format!("{}, {problem}", document.display())));
    }
    assert!(all.is_empty(), "{} broken links:\n{}", all.len(), all.join("\n"));
}

#[test]
fn the_documents_checked_are_the_readme_every_docs_page_benchmarks_and_the_crates_readmes() {
    let documents = documents();
    for expected in ["README.md", "BENCHMARKS.md", "docs/reliability.md", "docs/configuration.md", "emulator/README.md"] {
        assert!(documents.contains(&PathBuf::from(expected)), "{expected} is not checked: {documents:?}");
    }
    assert!(documents.iter().all(|path| !is_generated(path)), "{documents:?}");
}

// ----- the checks themselves, on documents in memory ------------------------------------------

/// Files in memory: a path ending in `/` is a directory.
struct Memory(Vec<(&'static str, &'static str)>);

impl Tree for Memory {
    fn lookup(&self, path: &Path) -> Option<Option<String>> {
        let path = path.to_string_lossy();
        self.0.iter().find_map(|(name, text)| match name.strip_suffix('/') {
            Some(dir) if dir == path => Some(None),
            None if *name == path => Some(is_markdown(Path::new(name)).then(|| text.to_string())),
            _ => None,
        })
    }
}

fn guide() -> Memory {
    Memory(vec![
        ("docs/guide.md", "# Guide\n\n## Alarms: what each means\n\n## Tests\n\n## Tests\n\n<a name=\"kept\"></a>\n"),
        ("src/lib.rs", "//! code"),
        ("events/", ""),
    ])
}

#[test]
fn a_missing_file_a_missing_anchor_and_an_undefined_reference_are_each_reported() {
    let text = "# Page\n\n\
        [fine](docs/guide.md#alarms-what-each-means) and [here](#page)\n\n\
        [gone](docs/missing.md)\n\n\
        | a | b |\n|---|---|\n| [no anchor](docs/guide.md#alarms) | x |\n\n\
        [self](#nowhere) [line](src/lib.rs#L3) [bad line](src/lib.rs#top)\n\n\
        [undefined][nothing-defines-this]\n\n\
        [escape](../../etc/passwd)\n";
    let problems = problems(&guide(), Path::new("README.md"), text);
    let expected = [
        "line 5: docs/missing.md: docs/missing.md does not exist",
        "line 9: docs/guide.md#alarms: docs/guide.md has no anchor #alarms",
        "line 11: #nowhere: README.md has no anchor #nowhere",
        "line 11: src/lib.rs#top: src/lib.rs has no anchor #top",
        "line 13: the reference [nothing-defines-this] is not defined",
        "line 15: ../../etc/passwd: the path leaves the repository",
    ];
    let mut sorted = problems.clone();
    sorted.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(sorted, expected);
}

#[test]
fn links_that_resolve_external_links_and_links_inside_code_are_not_reported() {
    let text = "# Page\n\n\
        [up](../README.md) from a page of docs/, [dir](../events/), [dup](guide.md#tests-1), \
        [html](guide.md#kept), [encoded](guide.md#caf%C3%A9)\n\n\
        [web](https://example.com/missing.md#nowhere) [mail](mailto:someone@example.com) <https://example.com>\n\n\
        `[not a link](missing.md)`\n\n```md\n[not a link either](missing.md)\n```\n\n\
        [shortcut text] is plain text; [ref][r] resolves.\n\n[r]: guide.md#tests\n";
    let tree = Memory(vec![
        ("README.md", "# Project\n"),
        ("events/", ""),
        ("docs/guide.md", "# Guide\n\n## Café\n\n## Tests\n\n## Tests\n\n<a name=\"kept\"></a>\n"),
    ]);
    assert_eq!(problems(&tree, Path::new("docs/page.md"), text), Vec::<String>::new());
}

#[test]
fn headings_are_named_as_github_names_their_anchors() {
    let text = "# What `delete-instance` does\n\n## Alarms: what each means and what to do\n\n\
        ## Time, scale and failures\n\n## The stack's outputs\n\n## scripts/run-local\n\n\
        ## Tests\n\n## Tests\n\n## Tests\n\n## snake_case and [a link](x.md)\n";
    let anchors = anchors(text);
    for expected in [
        "what-delete-instance-does",
        "alarms-what-each-means-and-what-to-do",
        "time-scale-and-failures",
        "the-stacks-outputs",
        "scriptsrun-local",
        "tests",
        "tests-1",
        "tests-2",
        "snake_case-and-a-link",
    ] {
        assert!(anchors.contains(expected), "{expected} not in {anchors:?}");
    }
    assert_eq!(anchors.len(), 9, "{anchors:?}");
}
