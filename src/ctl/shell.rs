//! The interactive shell: `sluice ctl` with no command.
//!
//! As supervisorctl's: it runs `status` first, then prompts `PROMPT> `
//! (`[supervisorctl] prompt`, default `supervisor`) and runs each line as a
//! command; an empty line does nothing, `?topic` is `help topic`, an
//! unknown command prints `*** Unknown syntax: LINE`, and `exit`, `quit`,
//! end of input (Ctrl-D) or Ctrl-C at the prompt leave with an empty line.
//! The shell's exit status is always 0.
//!
//! On a terminal, lines are edited with `rustyline` (history, Ctrl-R,
//! completion of command names), and the history is kept in
//! `[supervisorctl] history_file`, else `~/.sluice_history`. When stdin is
//! not a terminal the prompt is written to stdout and lines are read as
//! they come, like Python's `input()` does.

use std::io::IsTerminal;
use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, Helper};

use super::{DynRpc, Options, exit, run_args};

/// Where the shell keeps its history when the config names no file.
pub fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".sluice_history"))
}

/// Split a shell line into the command's words (`?x` = `help x`).
fn words(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = match line.strip_prefix('?') {
        Some(rest) => format!("help {rest}"),
        None => line.to_string(),
    };
    line.split_whitespace().map(str::to_string).collect()
}

/// Run one line; `true` when the shell should end.
async fn one_line(rpc: &dyn DynRpc, line: &str, opts: &Options) -> bool {
    let args = words(line);
    if args.is_empty() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    run_args(rpc, &args, &mut out, &mut err, opts).await.1
}

/// Ask on stdout, read the answer from stdin: yes when it starts with `y`.
fn ask_yes_no(question: &str) -> bool {
    super::stdin::prompt_and_read(question)
        .map(|a| a.trim_start().to_lowercase().starts_with('y'))
        .unwrap_or(false)
}

/// Completes the first word with a command name.
struct Names;

impl Helper for Names {}
impl Highlighter for Names {}
impl Validator for Names {}
impl Hinter for Names {
    type Hint = String;
}

impl Completer for Names {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let head = &line[..pos];
        if head.contains(char::is_whitespace) {
            return Ok((pos, Vec::new()));
        }
        let mut names: Vec<String> = super::COMMANDS
            .iter()
            .map(|c| c.name)
            .filter(|n| n.starts_with(head))
            .map(|n| format!("{n} "))
            .collect();
        names.sort();
        Ok((0, names))
    }
}

/// Run the shell until the user leaves; returns the exit status (0).
pub(crate) async fn run(
    rpc: &dyn DynRpc,
    prompt: &str,
    history: Option<PathBuf>,
    opts: &Options,
) -> i32 {
    let prompt = format!("{prompt}> ");
    // In the shell, shutdown and reload ask first, as supervisorctl's do.
    let opts = &Options {
        tail_poll: opts.tail_poll,
        interrupt: opts.interrupt,
        input: opts.input,
        confirm: Some(ask_yes_no),
    };
    one_line(rpc, "status", opts).await;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let editor = if terminal {
        Editor::<Names, DefaultHistory>::new().ok()
    } else {
        None
    };
    let Some(mut editor) = editor else {
        // Piped input: prompt on stdout, one line at a time.
        loop {
            let Some(line) = super::stdin::prompt_and_read(&prompt) else {
                one_line(rpc, "quit", opts).await;
                break;
            };
            if one_line(rpc, &line, opts).await {
                break;
            }
        }
        return exit::OK;
    };
    editor.set_helper(Some(Names));
    if let Some(path) = &history {
        // A missing or unreadable history file only means no history yet.
        let _ = editor.load_history(path);
    }
    loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if one_line(rpc, &line, opts).await {
                    break;
                }
            }
            Err(ReadlineError::Eof) => {
                one_line(rpc, "quit", opts).await;
                break;
            }
            Err(ReadlineError::Interrupted) => {
                println!();
                break;
            }
            Err(e) => {
                println!("error: reading the terminal: {e}");
                break;
            }
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn lines_split_into_words_and_question_mark_is_help() {
        assert_eq!(words("  status   web  "), ["status", "web"]);
        assert_eq!(words("?tail"), ["help", "tail"]);
        assert_eq!(words("?"), ["help"]);
        assert!(words("   ").is_empty());
    }
}
