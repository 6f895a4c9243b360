#ifndef LINEEDIT_SHIM_H
#define LINEEDIT_SHIM_H

/// A small C layer over libedit: its variadic calls (el_set, el_get, history) do not import
/// into Swift, and the C globals it needs (stdin, stdout) are off limits to Swift 6.

typedef struct llmopt_lineedit llmopt_lineedit;

/// Called on Tab with the line up to the cursor. It answers through
/// llmopt_lineedit_add_candidate and returns how many characters before the cursor the
/// candidates replace.
typedef int (*llmopt_completer)(llmopt_lineedit *editor, const char *line_before_cursor);

/// Sets the locale from the environment (so libedit reads UTF-8), makes an editor reading
/// stdin, loads history from history_path (may be NULL) and binds Tab to completer.
llmopt_lineedit *llmopt_lineedit_open(const char *program, const char *history_path, int history_size,
                                      llmopt_completer completer);
void llmopt_lineedit_close(llmopt_lineedit *editor);

/// Reads a line with editing. Returns the line without its newline (valid until the next call),
/// or NULL at end of input. *interrupted is set to 1 when Ctrl-C ended the read.
const char *llmopt_lineedit_read(llmopt_lineedit *editor, const char *prompt, int *interrupted);

/// Adds a line to the history and appends it to the history file.
void llmopt_lineedit_add_history(llmopt_lineedit *editor, const char *line);

/// For completers: offers one candidate (the text replacing the word before the cursor).
void llmopt_lineedit_add_candidate(llmopt_lineedit *editor, const char *candidate);

/// 1 when stdin and stdout are terminals.
int llmopt_is_interactive(void);

/// Installs a SIGINT handler that only records the signal (no SA_RESTART, so a blocking read
/// returns), so that Ctrl-C stops the running statement instead of the process.
void llmopt_install_interrupt_handler(void);
/// Whether Ctrl-C was pressed since the last llmopt_clear_interrupt.
int llmopt_interrupt_pending(void);
void llmopt_clear_interrupt(void);

#endif
