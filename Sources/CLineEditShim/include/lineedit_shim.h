#ifndef LINEEDIT_SHIM_H
#define LINEEDIT_SHIM_H

/// Thin wrappers around libedit's variadic API, which Swift cannot call directly.
/// Returns nonzero when libedit is usable on this terminal.
int llmopt_lineedit_available(void);

#endif
