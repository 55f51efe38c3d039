//! The AWS CLI commands of the documentation: every `aws` command that the fenced `sh`, `bash` and
//! `console` blocks of the README and of `docs/*.md` tell an operator to run, and every command the
//! approval flow puts in its events (`detail.commands` of the fixtures in `events/`), is accepted as
//! written by the AWS CLI of `.venv`.
//!
//! No AWS account is reachable, so "accepted" means that the CLI parsed the command line (service,
//! operation, option names, required options, JSON and shorthand values, the files it reads) and went
//! on to call the service: each command runs with every endpoint at a loopback port that is bound and
//! never listened on, so the call is refused at once, and its only message must be that refusal
//! ([`CONNECTION_REFUSED`]). A command the CLI rejects ends otherwise (see [`accepted`]).
//!
//! A command is read as the shell reads it: `\` at the end of a line continues it, quotes are
//! removed, and a command starts after a `$ ` prompt (in `console` blocks), after `VAR=...`
//! assignments, after `|`, `&&`, `;` and the like, and after reserved words (`do`, `{`, ...).
//! `$(...)` command substitutions are read as commands of their own. What the documentation leaves
//! to the operator or to AWS is replaced by stand-ins:
//!
//! - a placeholder `<name>`, or a value ending in `…`, by the stand-in of its name ([`stand_in`];
//!   `NAME=…` takes the stand-in of `NAME`);
//! - `$VAR` by the value the page last assigned to it (pages are read top to bottom, their blocks
//!   sharing one shell), or else by the stand-in of `VAR`; `${VAR##*/}` is applied to that value;
//! - `$(...)` by the stand-in of the first of these that has one: the stack output it reads
//!   (`OutputKey=='X'` in its `--query`, or the pages' shell function `output X`), the last field of
//!   its `--query` (`executionArn`), `date` for `$(date ...)`, then the variable it is assigned to
//!   or the option it is the value of (`--entries` for `$(jq ...)`);
//! - a `file://` or `fileb://` path is read from the repository's root, where the commands run as
//!   the pages run them; a file the repository does not have is the output of an earlier
//!   `printf '%s' VALUE > FILE` of the page, or else the JSON the page shows in its last `json`
//!   block before the command: the test writes it to a file of its own and gives the CLI its path.
//!
//! The CLI passes some JSON documents on as strings without reading them (an event pattern, a
//! policy, a task's output, an execution's input, a function's payload): [`JSON_DOCUMENTS`] are
//! checked here to be JSON. A command the test cannot read this way fails the test, naming it.
//!
//! Starting the CLI costs about half a second of processor time, most of it importing its modules
//! and reading the services' models; [`RUNNER`] does that once and forks each command from it, for
//! a tenth of that each, so each one still runs the CLI's own `main` in a process of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{json, Value};

use crate::support::{fixture_now, tools, unique_name};

/// What the CLI prints, alone, when it could not reach the endpoint: the one outcome that proves it
/// accepted the command line. awscli 1.x prints it on its own line and exits with 255; `aws s3 cp`
/// reports it as `download failed: s3://... to - Could not connect to the endpoint URL: "..."` and
/// exits with 1. A rejected command ends otherwise, for example: exit 2 with `usage: ...` and
/// `aws: error: the following arguments are required: --task-output` or `aws: error: argument
/// operation: Invalid choice, valid choices are: ...`; exit 255 with `Unknown options: --bogus`,
/// `Error parsing parameter '--targets': Invalid JSON: ...`, `Error parsing parameter
/// '--event-pattern': Unable to load paramfile file://nope.json: ...`, or `Parameter validation
/// failed:` and `Missing required parameter in Targets[0]: "Arn"`.
const CONNECTION_REFUSED: &str = "Could not connect to the endpoint URL: ";

/// Options whose value is a JSON document that the CLI sends as a string without reading it.
const JSON_DOCUMENTS: &[&str] = &["--event-pattern", "--policy-document", "--task-output", "--input", "--payload"];

/// Words that open or close a compound command: the simple command starts after them.
const RESERVED: &[&str] = &["{", "}", "!", "if", "then", "elif", "else", "fi", "while", "until", "do", "done", "time"];

/// Runs AWS CLI command lines (a JSON array of argument arrays on standard input) and prints, as
/// JSON, the endpoint they were given and each one's exit status and standard error. Every
/// service's endpoint is a loopback port held bound but never listened on: a call is refused at
/// once, and no other program can take the port meanwhile. The CLI's driver is built once, as
/// `awscli.clidriver.main` (the `aws` program) builds it, with the models of the services the
/// commands name loaded; each command then runs that driver's `main` in a child process of its
/// own, with its own standard streams, as if it were the only one.
const RUNNER: &str = r#"
import json, os, socket, sys, tempfile, traceback
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
endpoint = "http://127.0.0.1:%d" % closed.getsockname()[1]
os.environ["AWS_ENDPOINT_URL"] = endpoint
# Anything else that would leave the machine goes to the closed port as its proxy.
os.environ.update(HTTPS_PROXY=endpoint, HTTP_PROXY=endpoint, NO_PROXY="127.0.0.1")
import awscli.clidriver
import awscli.customizations.overridesslcommonname
# awscli 1.x sends SQS, EMR, RDS, ... to legacy host names unless --endpoint-url is given, which
# overrides AWS_ENDPOINT_URL: without them, every service goes to the closed port.
awscli.customizations.overridesslcommonname.SSL_COMMON_NAMES.clear()
commands = json.load(sys.stdin)
driver = awscli.clidriver.create_clidriver()
for service in {args[0] for args in commands if args}:
    try:
        driver.session.get_service_model(service)
    except Exception:
        pass  # not a service: the CLI itself will say so
children = {}
for index, args in enumerate(commands):
    stderr = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_RDWR), 0)
        os.dup2(os.open(os.devnull, os.O_RDWR), 1)
        os.dup2(stderr.fileno(), 2)
        sys.argv = ["aws"] + args
        try:
            status = driver.main(args)
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    children[pid] = (index, stderr)
results = [None] * len(commands)
while children:
    pid, wait = os.wait()
    index, stderr = children.pop(pid)
    stderr.seek(0)
    results[index] = {"status": os.waitstatus_to_exitcode(wait), "stderr": stderr.read().decode(errors="replace")}
json.dump({"endpoint": endpoint, "results": results}, sys.stdout)
"#;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const STACK: &str = "supplychain-delete-instance";
const INSTANCE_ARN: &str = "arn:aws:scn:us-east-1:123456789012:instance/0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40";
const PLAN_ID: &str = "5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60";
/// 2025-12-01T00:00:00Z, in seconds since the epoch.
const EPOCH_SECONDS: &str = "1764547200";

/// The stand-in for what the documentation leaves to the operator or to AWS, by its name: a
/// placeholder (`<region>`), a value ending in `…`, a variable (`TOPIC_ARN`), a stack output
/// (`EventBusArn`), the field a `--query` reads (`executionArn`), or the option a computed value is
/// given to (`--entries`). `None` for a name it has no stand-in for.
fn stand_in(name: &str) -> Option<String> {
    let exact = match name {
        "<region>" => REGION.to_owned(),
        "<taskToken>" => fixture_now("sweep/plan-ready.json")["detail"]["taskToken"].as_str()?.to_owned(),
        "<PlanBucketName>" => format!("organization-sweep-plans-{ACCOUNT}"),
        "<planId>" => PLAN_ID.to_owned(),
        "<instanceArn>" => INSTANCE_ARN.to_owned(),
        "<why>" => "team-a still needs demo-old".to_owned(),
        // The name the command before it printed or gave: a rule's (list-rules) or a replay's
        // (start-replay, `history-$(date +%s)`); this one is both.
        "<that name>" => format!("history-{EPOCH_SECONDS}"),
        // The stack's own rule's InputTransformer, which the page reads with list-targets-by-rule.
        "<the transformer>" => json!({
            "InputPathsMap": {"instance": "$.resources[0]", "scheduledFor": "$.detail.scheduledFor"},
            "InputTemplate": "\"<instance> is scheduled for deletion at <scheduledFor>.\""
        })
        .to_string(),
        "o-…" => "o-a1b2c3d4e5".to_owned(),
        "arn:aws:scn:us-east-1:111111111111:instance/a1b2…" => {
            "arn:aws:scn:us-east-1:111111111111:instance/a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d".to_owned()
        }
        // The first parameter of a shell function: the pages' `output` takes a stack output's name.
        "1" => "EventBusName".to_owned(),
        "date" => EPOCH_SECONDS.to_owned(),
        "STACK" | "central" => STACK.to_owned(),
        // describe-stack-resource's PhysicalResourceId of the RequestQueue: the queue's URL.
        "REQUESTS" => format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-requests"),
        // What a dead letter of the status checks holds (status-checker.md): the check's input, and
        // the receipt handle receive-message gives with it.
        "body" => fixture_now("check/status-check.json").to_string(),
        "handle" => "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a9vBRZZ3bGkXvMFd1C2VfWtdQMaaH2kKjOqhTqcIN9SM4Xz==".to_owned(),
        // The event a failed delivery held (operating.md reads it out of the message with jq).
        "EVENT" => fixture_now("eventbridge-deletion-requested.json").to_string(),
        // deploying.md's jq turns the fixture event into the one PutEvents entry it stands for.
        "--entries" => {
            let event = fixture_now("eventbridge-deletion-requested.json");
            json!([{"EventBusName": STACK, "Source": event["source"], "DetailType": event["detail-type"], "Detail": event["detail"].to_string()}])
                .to_string()
        }
        _ => String::new(),
    };
    if exact.is_empty() {
        stand_in_by_suffix(name)
    } else {
        Some(exact)
    }
}

/// The stand-in of a stack output, or of a variable holding one, by what its name ends with.
fn stand_in_by_suffix(name: &str) -> Option<String> {
    let arn = |service: &str, resource: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}");
    let name: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    let by_suffix = [
        ("url", format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-queue")),
        ("functionarn", arn("lambda", &format!("function:{STACK}-function"))),
        ("rolearn", format!("arn:aws:iam::{ACCOUNT}:role/{STACK}-role")),
        ("queuearn", arn("sqs", &format!("{STACK}-queue"))),
        ("topicarn", arn("sns", &format!("{STACK}-topic"))),
        ("busarn", arn("events", &format!("event-bus/{STACK}"))),
        ("archivearn", arn("events", &format!("archive/{STACK}-audit"))),
        ("rulearn", arn("events", &format!("rule/{STACK}/instance-history"))),
        ("executionarn", arn("states", &format!("execution:{STACK}:{PLAN_ID}"))),
        ("workflowarn", arn("states", &format!("stateMachine:{STACK}"))),
        ("sweeparn", arn("states", &format!("stateMachine:{STACK}-organization-sweep"))),
        ("busname", STACK.to_owned()),
    ];
    by_suffix.into_iter().find(|(suffix, _)| name.ends_with(suffix)).map(|(_, value)| value)
}

/// A piece of a shell word.
#[derive(Clone, Debug)]
enum Part {
    /// Text as written, its quotes and escapes removed.
    Text(String),
    /// `$NAME`, `${NAME}` or `${NAME<operation>}`.
    Variable { name: String, operation: String },
    /// `$(...)`: its source, and the line of the page it starts on.
    Substitution { source: String, line: usize },
}

#[derive(Clone, Debug)]
struct Word {
    parts: Vec<Part>,
    line: usize,
}

impl Word {
    /// The word's text when it is plain text, unquoted or not.
    fn text(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum Token {
    Word(Word),
    /// `|`, `&&`, `;`, a new line, `>`, ...
    Operator(String),
}

/// A shell text read into words and operators.
struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
}

impl Lexer {
    fn new(text: &str, line: usize) -> Self {
        Lexer { chars: text.chars().collect(), at: 0, line }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The length of a placeholder `<name>` starting here, if one does.
    fn placeholder_ahead(&self) -> Option<usize> {
        let rest = &self.chars[self.at..];
        if rest.first() != Some(&'<') || !rest.get(1).is_some_and(char::is_ascii_alphabetic) {
            return None;
        }
        let end = 1 + rest[1..].iter().position(|&c| matches!(c, '>' | '<' | '\n' | '"' | '\'' | '$'))?;
        (rest[end] == '>').then_some(end + 1)
    }

    fn tokens(mut self) -> Result<Vec<Token>, String> {
        let mut tokens = Vec::new();
        while let Some(c) = self.peek(0) {
            let pair: String = self.chars[self.at..].iter().take(2).collect();
            match c {
                ' ' | '\t' => self.at += 1,
                '\\' if self.peek(1) == Some('\n') => {
                    self.next();
                    self.next();
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.next();
                    }
                }
                '<' if self.placeholder_ahead().is_none() => {
                    return Err(format!("{}: `<` (an input redirection or a here-document) is not read by this test", self.line))
                }
                _ if ["&&", "||", ">>", "2>", "&>"].contains(&pair.as_str()) => {
                    self.at += 2;
                    tokens.push(Token::Operator(pair));
                }
                '\n' | '&' | '|' | ';' | '(' | ')' | '>' => {
                    self.next();
                    tokens.push(Token::Operator(c.to_string()));
                }
                _ => tokens.push(Token::Word(self.word()?)),
            }
        }
        Ok(tokens)
    }

    fn word(&mut self) -> Result<Word, String> {
        let line = self.line;
        let mut parts = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\n' | '&' | '|' | ';' | '(' | ')' | '>' => break,
                '<' => match self.placeholder_ahead() {
                    Some(length) => (0..length).for_each(|_| text.extend(self.next())),
                    None => break,
                },
                '\\' => {
                    self.next();
                    match self.next() {
                        Some('\n') | None => {}
                        Some(escaped) => text.push(escaped),
                    }
                }
                '\'' => {
                    self.next();
                    loop {
                        match self.next() {
                            Some('\'') => break,
                            Some(c) => text.push(c),
                            None => return Err(format!("{line}: a single quote is not closed")),
                        }
                    }
                }
                '"' => {
                    self.next();
                    self.double_quoted(line, &mut text, &mut parts)?;
                }
                '$' => self.dollar(&mut text, &mut parts)?,
                '`' => return Err(format!("{}: backquotes are not read by this test: write $(...)", self.line)),
                _ => text.extend(self.next()),
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Word { parts, line })
    }

    fn double_quoted(&mut self, line: usize, text: &mut String, parts: &mut Vec<Part>) -> Result<(), String> {
        loop {
            match self.peek(0) {
                None => return Err(format!("{line}: a double quote is not closed")),
                Some('"') => {
                    self.next();
                    return Ok(());
                }
                Some('\\') => {
                    self.next();
                    match self.next() {
                        Some('\n') => {}
                        Some(c @ ('$' | '`' | '"' | '\\')) => text.push(c),
                        Some(c) => text.extend(['\\', c]),
                        None => return Err(format!("{line}: a double quote is not closed")),
                    }
                }
                Some('$') => self.dollar(text, parts)?,
                Some('`') => return Err(format!("{}: backquotes are not read by this test: write $(...)", self.line)),
                Some(_) => text.extend(self.next()),
            }
        }
    }

    /// `$NAME`, `${...}`, `$(...)`, or a `$` of its own.
    fn dollar(&mut self, text: &mut String, parts: &mut Vec<Part>) -> Result<(), String> {
        self.next();
        let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let part = match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => return Err(format!("{}: $((...)) is not read by this test", self.line)),
            Some('(') => {
                self.next();
                let line = self.line;
                Part::Substitution { source: self.balanced(line)?, line }
            }
            Some('{') => {
                self.next();
                let mut inside = String::new();
                loop {
                    match self.next() {
                        Some('}') => break,
                        Some(c) => inside.push(c),
                        None => return Err(format!("{}: ${{ is not closed", self.line)),
                    }
                }
                let split = inside.find(|c: char| !name_char(c)).unwrap_or(inside.len());
                Part::Variable { name: inside[..split].to_owned(), operation: inside[split..].to_owned() }
            }
            Some(c) if c.is_ascii_digit() || "?#@*!$".contains(c) => {
                self.next();
                Part::Variable { name: c.to_string(), operation: String::new() }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while self.peek(0).is_some_and(name_char) {
                    name.extend(self.next());
                }
                Part::Variable { name, operation: String::new() }
            }
            _ => {
                text.push('$');
                return Ok(());
            }
        };
        if !text.is_empty() {
            parts.push(Part::Text(std::mem::take(text)));
        }
        parts.push(part);
        Ok(())
    }

    /// The source of a `$(...)` whose `$(` was just read, up to its closing `)`, which is consumed.
    /// Errors, here and above, start with the line they are on: `12: a double quote is not closed`.
    fn balanced(&mut self, line: usize) -> Result<String, String> {
        let start = self.at;
        self.skip_parenthesised(line)?;
        Ok(self.chars[start..self.at - 1].iter().collect())
    }

    /// Moves past the `)` that closes a `(` just read, over quotes and nested parentheses.
    fn skip_parenthesised(&mut self, line: usize) -> Result<(), String> {
        let unclosed = || format!("{line}: $( is not closed");
        loop {
            match self.next().ok_or_else(unclosed)? {
                ')' => return Ok(()),
                '(' => self.skip_parenthesised(line)?,
                '\\' => {
                    self.next();
                }
                '\'' => while self.next().ok_or_else(unclosed)? != '\'' {},
                '"' => loop {
                    match self.next().ok_or_else(unclosed)? {
                        '"' => break,
                        '\\' => {
                            self.next();
                        }
                        '$' if self.peek(0) == Some('(') => {
                            self.next();
                            self.skip_parenthesised(line)?;
                        }
                        _ => {}
                    }
                },
                _ => {}
            }
        }
    }
}

/// A simple command: its words, and where its output goes (`> FILE`).
#[derive(Clone, Debug, Default)]
struct Simple {
    words: Vec<Word>,
    writes_to: Option<Word>,
}

/// The simple commands of a shell text whose first line is `line` of its page.
fn simple_commands(text: &str, line: usize) -> Result<Vec<Simple>, String> {
    let mut commands = Vec::new();
    let mut current = Simple::default();
    let mut tokens = Lexer::new(text, line).tokens()?.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(word) => current.words.push(word),
            Token::Operator(redirection) if [">", ">>", "2>", "&>"].contains(&redirection.as_str()) => match tokens.next() {
                Some(Token::Word(target)) => {
                    if redirection != "2>" {
                        current.writes_to = Some(target);
                    }
                }
                _ => return Err(format!("{}: `{redirection}` names no file", current.words.first().map_or(line, |word| word.line))),
            },
            Token::Operator(_) => commands.extend((!current.words.is_empty()).then(|| std::mem::take(&mut current))),
        }
    }
    commands.extend((!current.words.is_empty()).then_some(current));
    Ok(commands)
}

/// `NAME=value` at the start of a simple command: the name and the value's word.
fn assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Text(first)) = word.parts.first() else { return None };
    let (name, value) = first.split_once('=')?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return None;
    }
    let mut parts = vec![Part::Text(value.to_owned())];
    parts.extend(word.parts[1..].iter().cloned());
    Some((name.to_owned(), Word { parts, line: word.line }))
}

/// An AWS CLI command to run: where it is written and its arguments after `aws`, stand-ins in place;
/// not `runnable` when a value it needs has no stand-in.
#[derive(Debug)]
struct AwsCommand {
    at: String,
    args: Vec<String>,
    runnable: bool,
}

/// Marks, around its name, a value the test has no stand-in for: it is named as a problem if it
/// reaches an aws command (a command the test does not run may hold such values).
const UNKNOWN: char = '\u{0}';

fn unknown(what: &str) -> String {
    format!("{UNKNOWN}{what}{UNKNOWN}")
}

/// The reading of one page: the shell's variables, the files its commands write, the `json` blocks
/// it shows, and what it found.
struct Reader<'a> {
    page: &'a str,
    files: &'a Path,
    variables: HashMap<String, String>,
    written: HashMap<String, String>,
    json_blocks: Vec<(usize, String)>,
    commands: Vec<AwsCommand>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(page: &'a str, files: &'a Path) -> Self {
        Reader {
            page,
            files,
            variables: HashMap::new(),
            written: HashMap::new(),
            json_blocks: Vec::new(),
            commands: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, line: usize, what: String) {
        self.problems.push(format!("{}:{line}: {what}", self.page));
    }

    /// Reads and runs the shell text `source`, whose first line is `line` of the page; answers the
    /// words of its last simple command, expanded.
    fn run_source(&mut self, source: &str, line: usize) -> Vec<String> {
        match simple_commands(source, line) {
            Ok(commands) => {
                let mut last = Vec::new();
                for command in &commands {
                    last = self.run(command);
                }
                last
            }
            Err(problem) => {
                self.problems.push(format!("{}:{problem}", self.page));
                Vec::new()
            }
        }
    }

    /// Runs a simple command as the test does: assignments set variables, an `aws` command is kept
    /// to run, `printf '%s' VALUE > FILE` writes a file, and every word is expanded, so that the
    /// commands in its substitutions are found too. Answers its words, expanded.
    fn run(&mut self, command: &Simple) -> Vec<String> {
        let mut words = command.words.as_slice();
        while let Some((first, rest)) = words.split_first() {
            if let Some((name, value)) = assignment(first) {
                let value = self.expand(&value, &name);
                self.variables.insert(name, value);
            } else if !first.text().is_some_and(|text| RESERVED.contains(&text)) {
                break;
            }
            words = rest;
        }
        let Some((name, args)) = words.split_first() else { return Vec::new() };
        let name = self.expand(name, "");
        let mut expanded = vec![name.clone()];
        for word in args {
            let given_to = expanded.last().filter(|previous| previous.starts_with("--")).cloned().unwrap_or_else(|| name.clone());
            if name != "aws" && word.text() == Some("aws") {
                self.problem(
                    word.line,
                    format!("`{name}` runs an aws command, which this test cannot read: write it as a command of its own"),
                );
            }
            expanded.push(self.expand(word, &given_to));
        }
        match (name.as_str(), &command.writes_to) {
            ("aws", _) => self.keep(words[0].line, expanded[1..].to_vec()),
            ("printf", Some(file)) if expanded.get(1).is_some_and(|format| format == "%s") => {
                let file = self.expand(file, "");
                self.written.insert(file, expanded[2..].concat());
            }
            _ => {}
        }
        expanded
    }

    fn expand(&mut self, word: &Word, given_to: &str) -> String {
        let mut out = String::new();
        for part in &word.parts {
            match part {
                Part::Text(text) => out.push_str(&Self::fill_placeholders(text, word.line)),
                Part::Variable { name, operation } => {
                    let value =
                        self.variables.get(name).cloned().or_else(|| stand_in(name)).unwrap_or_else(|| unknown(&format!("${name}")));
                    match operation.as_str() {
                        "" => out.push_str(&value),
                        "##*/" => out.push_str(value.rsplit('/').next().unwrap_or_default()),
                        _ => out.push_str(&unknown(&format!("${{{name}{operation}}}, an expansion this test does not read"))),
                    }
                }
                Part::Substitution { source, line } => {
                    let value = self.substitute(source, *line, given_to);
                    out.push_str(&value);
                }
            }
        }
        out
    }

    /// The stand-in value of `$(source)`, after running its commands as commands of their own.
    fn substitute(&mut self, source: &str, line: usize, given_to: &str) -> String {
        // A substitution runs in a subshell: its assignments do not outlive it.
        let variables = self.variables.clone();
        let words = self.run_source(source, line);
        self.variables = variables;
        let mut names = Vec::new();
        match words.first().map(String::as_str) {
            Some("date") => names.push("date".to_owned()),
            Some("output") => names.extend(words.get(1).cloned()),
            Some("aws") => {
                if let Some(query) = words.iter().position(|w| w == "--query").and_then(|i| words.get(i + 1)) {
                    names.extend(
                        query.split_once("OutputKey=='").and_then(|(_, rest)| rest.split_once('\'')).map(|(key, _)| key.to_owned()),
                    );
                    names.extend(query.rsplit('.').next().map(str::to_owned));
                }
            }
            _ => {}
        }
        names.push(given_to.to_owned());
        names
            .iter()
            .find_map(|name| stand_in(name))
            .unwrap_or_else(|| unknown(&format!("$({}) (by any of the names {names:?})", source.trim())))
    }

    /// `text` with its placeholders (`<name>`, a value ending in `…`) replaced by their stand-ins.
    fn fill_placeholders(text: &str, line: usize) -> String {
        let mut out = String::new();
        let mut lexer = Lexer::new(text, line);
        while let Some(c) = lexer.peek(0) {
            if let Some(length) = lexer.placeholder_ahead() {
                let name: String = (0..length).filter_map(|_| lexer.next()).collect();
                out.push_str(&stand_in(&name).unwrap_or_else(|| unknown(&name)));
                continue;
            }
            lexer.next();
            if c != '…' {
                out.push(c);
                continue;
            }
            let start = out.rfind(|c: char| c.is_whitespace() || "\"'[]{}(),=".contains(c)).map_or(0, |i| i + 1);
            let prefix = out.split_off(start);
            let name = match (prefix.is_empty(), out.strip_suffix('=')) {
                (true, Some(before)) => {
                    before.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or_default().to_owned()
                }
                _ => format!("{prefix}…"),
            };
            out.push_str(&stand_in(&name).unwrap_or_else(|| unknown(&name)));
        }
        out
    }

    /// Keeps `aws args` to run, its files made ready and its JSON documents checked; a command
    /// that still holds a value without a stand-in is named as a problem and not run.
    fn keep(&mut self, line: usize, mut args: Vec<String>) {
        let mut runnable = true;
        let mut unknowns = Vec::new();
        let mut documents = Vec::new();
        for at in 0..args.len() {
            let file = ["fileb://", "file://"].iter().find_map(|scheme| Some((*scheme, args[at].strip_prefix(scheme)?.to_owned())));
            let text = match file {
                None => args[at].clone(),
                Some((scheme, path)) => match self.file(line, &path) {
                    Some((made, text)) => {
                        if let Some(made) = made {
                            args[at] = format!("{scheme}{}", made.display());
                        }
                        text
                    }
                    None => {
                        runnable = false;
                        continue;
                    }
                },
            };
            unknowns.extend(text.split(UNKNOWN).skip(1).step_by(2).map(str::to_owned));
            if let Some(option) = at.checked_sub(1).map(|i| args[i].clone()).filter(|option| JSON_DOCUMENTS.contains(&option.as_str())) {
                documents.push((option, text));
            }
        }
        unknowns.sort();
        unknowns.dedup();
        for what in &unknowns {
            self.problem(line, format!("no stand-in for {what}: give it one in stand_in"));
        }
        runnable &= unknowns.is_empty();
        for (option, text) in documents.iter().filter(|_| runnable) {
            if let Err(error) = serde_json::from_str::<Value>(text) {
                self.problem(line, format!("the value of {option} is not JSON ({error}): {text}"));
            }
        }
        self.commands.push(AwsCommand { at: format!("{}:{line}", self.page), args, runnable });
    }

    /// The file a command reads at `path` from the repository's root, where the pages' commands
    /// run: its text, with the path the test made for it when it is not the repository's.
    fn file(&mut self, line: usize, path: &str) -> Option<(Option<PathBuf>, String)> {
        let in_repository = tools::repo_path(path);
        if in_repository.is_file() {
            return Some((None, tools::read(&in_repository)));
        }
        let shown = self.json_blocks.iter().rev().find(|(at, _)| *at < line).map(|(_, text)| text.clone());
        let Some(text) = self.written.get(path).cloned().or(shown) else {
            self.problem(line, format!("{path} is neither in the repository nor written or shown by the page before"));
            return None;
        };
        let made = self.files.join(format!("{}-{}", unique_name(), path.replace('/', "-")));
        std::fs::write(&made, &text).unwrap();
        Some((Some(made), text))
    }
}

/// A fenced code block of a page: its language, the line of its first line of code, and its code.
struct Block {
    language: String,
    line: usize,
    code: String,
}

fn code_blocks(text: &str) -> Vec<Block> {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (event, range) in Parser::new_ext(text, Options::ENABLE_TABLES).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let (language, line) = match kind {
                    CodeBlockKind::Fenced(info) => {
                        (info.split_whitespace().next().unwrap_or_default().to_owned(), line_of(range.start) + 1)
                    }
                    CodeBlockKind::Indented => (String::new(), line_of(range.start)),
                };
                current = Some(Block { language, line, code: String::new() });
            }
            Event::Text(code) => {
                if let Some(block) = current.as_mut() {
                    block.code.push_str(&code);
                }
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(current.take()),
            _ => {}
        }
    }
    blocks
}

/// A `console` block's commands: the lines after a `$ ` prompt and the lines that continue them;
/// the lines a command prints are left blank, so that lines keep their numbers.
fn console_commands(code: &str) -> String {
    let mut continued = false;
    let mut kept = Vec::new();
    for line in code.lines() {
        let command = match line.strip_prefix("$ ") {
            Some(command) => Some(command),
            None if continued => Some(line),
            None => None,
        };
        continued = command.is_some_and(|c| c.ends_with('\\'));
        kept.push(command.unwrap_or_default());
    }
    kept.join("\n")
}

/// Reads the shell blocks of one page into `reader`, in order.
fn read_page(reader: &mut Reader, text: &str) {
    for block in code_blocks(text) {
        let code = match block.language.as_str() {
            "sh" | "bash" | "shell" | "zsh" => block.code,
            "console" | "shell-session" => console_commands(&block.code),
            "json" => {
                reader.json_blocks.push((block.line, block.code));
                continue;
            }
            language => {
                let starts_aws = |line: &str| line.trim_start().trim_start_matches("$ ").starts_with("aws ");
                if let Some(at) = block.code.lines().position(starts_aws) {
                    reader.problem(
                        block.line + at,
                        format!("an aws command in a block of language `{language}`: mark the block sh or console"),
                    );
                }
                continue;
            }
        };
        let found = reader.commands.len();
        reader.run_source(&code, block.line);
        // Every line that starts an aws command gave one, whatever the reading above made of it.
        for (at, line) in code.lines().enumerate() {
            let line_number = block.line + at;
            let kept = reader.commands[found..].iter().any(|command| command.at == format!("{}:{line_number}", reader.page));
            if line.trim_start().starts_with("aws ") && !kept {
                reader.problem(line_number, "a line that starts an aws command gave no command to run".to_owned());
            }
        }
    }
}

/// The commands the approval flow's events carry (`detail.commands`), read from the fixtures of
/// `dir` and its subdirectories (but `invalid`).
fn read_event_commands(dir: &Path, files: &Path, commands: &mut Vec<AwsCommand>, problems: &mut Vec<String>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() && path.file_name().is_some_and(|name| name != "invalid") {
            read_event_commands(&path, files, commands, problems);
        }
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let text = tools::read(&path);
        let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let page = path.strip_prefix(tools::repo_path("")).unwrap_or(&path).display().to_string();
        let mut reader = Reader::new(&page, files);
        for (name, command) in event["detail"]["commands"].as_object().into_iter().flatten() {
            let line = text.find(&format!("\"{name}\"")).map_or(1, |at| text[..at].matches('\n').count() + 1);
            let Some(command) = command.as_str() else {
                reader.problem(line, format!("commands.{name} is not a string"));
                continue;
            };
            reader.run_source(command, line);
        }
        commands.append(&mut reader.commands);
        problems.append(&mut reader.problems);
    }
}

/// The README and the pages of `docs/`, as paths from the repository's root.
fn pages() -> Vec<String> {
    let mut docs: Vec<String> = std::fs::read_dir(tools::repo_path("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    std::iter::once("README.md".to_owned()).chain(docs).collect()
}

/// The result of one command as the runner reports it.
struct Run {
    status: i64,
    stderr: String,
}

/// Runs each command with the CLI of `.venv`, from the repository's root as the pages do, with
/// `home` as its home; answers the endpoint they were given and each one's result, in order.
fn run_all(commands: &[&AwsCommand], home: &Path) -> (String, Vec<Run>) {
    tools::venv_bin("aws");
    std::fs::create_dir_all(home).unwrap();
    let request = Value::from(commands.iter().map(|command| Value::from(command.args.clone())).collect::<Vec<_>>()).to_string();
    let output = tools::run(
        Command::new(tools::venv_bin("python"))
            .arg("-c")
            .arg(RUNNER)
            .current_dir(tools::repo_path(""))
            .env_clear()
            .env("HOME", home)
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_PAGER", ""),
        &request,
    );
    let report = tools::json_stdout("the AWS CLI runner", &output);
    let endpoint = report["endpoint"].as_str().expect("the runner names its endpoint").to_owned();
    let runs = report["results"]
        .as_array()
        .expect("the runner reports results")
        .iter()
        .map(|result| Run { status: result["status"].as_i64().unwrap(), stderr: result["stderr"].as_str().unwrap().to_owned() })
        .collect();
    (endpoint, runs)
}

/// Whether the CLI accepted `command`: it went as far as calling `endpoint` and printed nothing
/// but its refusal (see [`CONNECTION_REFUSED`]), with its exit status for a failed call.
fn accepted(command: &AwsCommand, run: &Run, endpoint: &str) -> bool {
    let lines: Vec<&str> = run.stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    let refused = format!("{CONNECTION_REFUSED}\"{endpoint}/");
    let transfer = command.args.first().is_some_and(|service| service == "s3");
    match lines.as_slice() {
        [line] if transfer => run.status == 1 && line.contains(&refused),
        [line] => run.status == 255 && line.starts_with(&refused),
        _ => false,
    }
}

/// A command line as an operator would paste it.
fn shell_quoted(args: &[String]) -> String {
    let quote = |arg: &String| {
        if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c)) {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    std::iter::once("aws".to_owned()).chain(args.iter().map(quote)).collect::<Vec<_>>().join(" ")
}

/// What a check found: every aws command, the problems met reading them, and a report of each
/// command the CLI did not accept, with its place first (`page:line: `).
struct Findings {
    commands: Vec<AwsCommand>,
    problems: Vec<String>,
    refused: Vec<String>,
}

/// Reads `pages` (a name and its Markdown) and the events under `events`, and runs every aws
/// command found.
fn check(pages: &[(String, String)], events: Option<&Path>) -> Findings {
    let scratch = std::env::temp_dir().join(format!("docs-commands-{}", unique_name()));
    let files = scratch.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut commands = Vec::new();
    let mut problems = Vec::new();
    for (page, text) in pages {
        let mut reader = Reader::new(page, &files);
        read_page(&mut reader, text);
        commands.append(&mut reader.commands);
        problems.append(&mut reader.problems);
    }
    if let Some(events) = events {
        read_event_commands(events, &files, &mut commands, &mut problems);
    }
    let runnable: Vec<&AwsCommand> = commands.iter().filter(|command| command.runnable).collect();
    let (endpoint, runs) = run_all(&runnable, &scratch.join("home"));
    let refused = runnable
        .iter()
        .zip(&runs)
        .filter(|(command, run)| !accepted(command, run, &endpoint))
        .map(|(command, run)| {
            let command_line = shell_quoted(&command.args);
            format!("{}: {command_line}\n  the AWS CLI answered (exit {}):\n{}", command.at, run.status, run.stderr.trim_end())
        })
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    Findings { commands, problems, refused }
}

#[test]
fn every_aws_cli_command_of_the_docs_is_accepted_as_written_by_the_aws_cli() {
    let pages: Vec<(String, String)> = pages().into_iter().map(|page| (page.clone(), tools::read(&tools::repo_path(&page)))).collect();
    let findings = check(&pages, Some(&tools::repo_path("events")));
    let from_events = findings.commands.iter().filter(|command| command.at.starts_with("events/")).count();
    assert!(findings.commands.len() > from_events, "no aws command found in the README and docs/");
    assert!(from_events > 0, "no aws command found in the events' detail.commands");
    assert!(
        findings.problems.is_empty() && findings.refused.is_empty(),
        "of {} aws commands, some cannot be run as the docs write them:\n{}\n{}",
        findings.commands.len(),
        findings.problems.join("\n"),
        findings.refused.join("\n")
    );
}

/// Commands, right and wrong, and what the check must say of each on its line ("" for nothing: the
/// CLI accepted it).
const WRONG: &[(&str, &str)] = &[
    ("QUEUE_URL=$(aws cloudformation describe-stacks --stack-name s \\", ""),
    ("  --query \"Stacks[0].Outputs[?OutputKey=='RequestQueueUrl'].OutputValue\" --output text)", ""),
    ("aws sqs delete-message --queue-url \"$QUEUE_URL\" --receipt-handle \"$handle\"", ""),
    ("aws s3 cp s3://<PlanBucketName>/plans/<planId>/plan.jsonl -", ""),
    ("aws stepfunctions send-task-success --task-token '<taskToken>'", "(exit 2):\nusage: "),
    ("aws stepfunctions send-task-success --task-token '<taskToken>'", "aws: error: the following arguments are required: --task-output"),
    ("aws stepfunctions send-task-success --task-token x --task-output '{}' --approve all", "(exit 255):\nusage: "),
    ("aws stepfunctions send-task-success --task-token x --task-output '{}' --approve all", "Unknown options: --approve, all"),
    ("aws stepfunctions send-task-succes --task-token x --task-output '{}'", "aws: error: argument operation: Invalid choice"),
    ("aws events put-targets --rule r --targets '[{\"Id\": \"a\", \"Arn\": }]'", "Error parsing parameter '--targets': Invalid JSON"),
    ("aws events put-targets --rule r --targets \"Id=a,Arnn=$TOPIC_ARN\"", "(exit 255):\n\nParameter validation failed:"),
    ("aws events put-targets --rule r --targets \"Id=a,Arnn=$TOPIC_ARN\"", "Missing required parameter in Targets[0]: \"Arn\""),
    (
        "aws lambda invoke --function-name f --cli-binary-format raw-in-base64-out --payload '{}' out.json",
        "Unknown options: --cli-binary-format",
    ),
    ("aws logs start-query --log-group-names g --start-time \"$(date +%s)\" --end-time now --query-string q", "invalid int value: 'now'"),
    ("aws stepfunctions send-task-success --task-token x --task-output '{\"approve\":'", "the value of --task-output is not JSON"),
    ("aws events put-rule --name r --event-pattern file://nowhere.json", "nowhere.json is neither in the repository"),
    ("aws events describe-rule --name <a name nobody gave>", "no stand-in for <a name nobody gave>"),
    ("aws events describe-rule --name \"$(jq -r .name rule.json)\"", "no stand-in for $(jq -r .name rule.json)"),
    ("echo r | xargs aws events describe-rule --name", "`xargs` runs an aws command"),
];

/// A console block: the lines after a `$ ` prompt, and those continuing them, are commands; the
/// others are what the commands print.
const PROMPTS: &[(&str, &str)] = &[
    ("$ aws sts get-caller-identity --output text", ""),
    ("123456789012\tarn:aws:iam::123456789012:user/jane\tAIDAEXAMPLE", ""),
    ("aws sts get-caller-identity --bogus", ""),
    ("$ aws sts get-caller-identity \\", "Unknown options: --bogus"),
    ("    --bogus", ""),
];

#[test]
fn a_command_the_aws_cli_would_refuse_fails_the_check_with_the_cli_s_message_and_its_line() {
    let pages = [("wrong.md", "sh", WRONG), ("prompts.md", "console", PROMPTS)];
    // The fence is a page's first line, so `cases[i]` is on line i + 2.
    let texts: Vec<(String, String)> = pages
        .iter()
        .map(|(page, language, cases)| {
            let code: Vec<&str> = cases.iter().map(|(line, _)| *line).collect();
            (page.to_string(), format!("```{language}\n{}\n```\n", code.join("\n")))
        })
        .collect();
    let findings = check(&texts, None);
    for (page, _, cases) in pages {
        for (index, (line, expected)) in cases.iter().enumerate() {
            let at = format!("{page}:{}: ", index + 2);
            let said: Vec<&String> = findings.problems.iter().chain(&findings.refused).filter(|found| found.starts_with(&at)).collect();
            if expected.is_empty() {
                assert!(said.is_empty(), "{at}{line} was not accepted: {said:#?}");
            } else {
                assert!(said.iter().any(|found| found.contains(expected)), "{at}{line}: expected {expected:?}, found {said:#?}");
            }
        }
    }
    assert_eq!(findings.commands.len(), 19, "{:#?}", findings.commands);
}
