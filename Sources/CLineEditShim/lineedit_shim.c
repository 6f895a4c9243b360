#include <histedit.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lineedit_shim.h"

struct llmopt_lineedit {
    EditLine *el;
    History *history;
    char *history_path;
    const char *prompt;
    llmopt_completer completer;
    char **candidates;
    int candidate_count;
    int candidate_capacity;
    char *line;
};

static volatile sig_atomic_t interrupt_pending = 0;

static void on_interrupt(int signal_number) {
    (void)signal_number;
    interrupt_pending = 1;
}

void llmopt_install_interrupt_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(SIGINT, &action, NULL);
}

int llmopt_interrupt_pending(void) { return interrupt_pending; }
void llmopt_clear_interrupt(void) { interrupt_pending = 0; }

int llmopt_is_interactive(void) { return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO); }

static char *prompt_function(EditLine *el) {
    llmopt_lineedit *editor = NULL;
    el_get(el, EL_CLIENTDATA, &editor);
    return (char *)(editor && editor->prompt ? editor->prompt : "");
}

void llmopt_lineedit_add_candidate(llmopt_lineedit *editor, const char *candidate) {
    if (editor->candidate_count == editor->candidate_capacity) {
        int capacity = editor->candidate_capacity ? editor->candidate_capacity * 2 : 16;
        char **grown = realloc(editor->candidates, sizeof(char *) * (size_t)capacity);
        if (!grown) return;
        editor->candidates = grown;
        editor->candidate_capacity = capacity;
    }
    editor->candidates[editor->candidate_count++] = strdup(candidate);
}

static void clear_candidates(llmopt_lineedit *editor) {
    for (int i = 0; i < editor->candidate_count; i++) free(editor->candidates[i]);
    editor->candidate_count = 0;
}

/// Tab: one candidate is inserted; several insert their common prefix, or are listed in
/// columns when there is no common prefix to add.
static unsigned char complete(EditLine *el, int ch) {
    (void)ch;
    llmopt_lineedit *editor = NULL;
    el_get(el, EL_CLIENTDATA, &editor);
    if (!editor || !editor->completer) return CC_ERROR;
    const LineInfo *info = el_line(el);
    size_t length = (size_t)(info->cursor - info->buffer);
    char *before = malloc(length + 1);
    if (!before) return CC_ERROR;
    memcpy(before, info->buffer, length);
    before[length] = '\0';
    clear_candidates(editor);
    int replace = editor->completer(editor, before);
    free(before);
    if (editor->candidate_count == 0) return CC_ERROR;

    size_t common = strlen(editor->candidates[0]);
    for (int i = 1; i < editor->candidate_count; i++) {
        size_t j = 0;
        while (j < common && editor->candidates[i][j] == editor->candidates[0][j]) j++;
        common = j;
    }
    if (editor->candidate_count == 1 || common > (size_t)replace) {
        char *insert = strndup(editor->candidates[0], editor->candidate_count == 1 ? strlen(editor->candidates[0]) : common);
        if (!insert) return CC_ERROR;
        el_deletestr(el, replace);
        el_insertstr(el, insert);
        free(insert);
        return CC_REFRESH;
    }
    size_t width = 0;
    for (int i = 0; i < editor->candidate_count; i++) {
        size_t w = strlen(editor->candidates[i]);
        if (w > width) width = w;
    }
    width += 2;
    int columns = (int)(80 / width);
    if (columns < 1) columns = 1;
    fputc('\n', stdout);
    for (int i = 0; i < editor->candidate_count; i++) {
        fprintf(stdout, "%-*s", (int)width, editor->candidates[i]);
        if ((i + 1) % columns == 0 || i == editor->candidate_count - 1) fputc('\n', stdout);
    }
    fflush(stdout);
    return CC_REDISPLAY;
}

llmopt_lineedit *llmopt_lineedit_open(const char *program, const char *history_path, int history_size,
                                      llmopt_completer completer) {
    setlocale(LC_CTYPE, "");
    llmopt_lineedit *editor = calloc(1, sizeof *editor);
    if (!editor) return NULL;
    editor->completer = completer;
    editor->el = el_init(program, stdin, stdout, stderr);
    editor->history = history_init();
    if (!editor->el || !editor->history) {
        llmopt_lineedit_close(editor);
        return NULL;
    }
    HistEvent event;
    history(editor->history, &event, H_SETSIZE, history_size);
    history(editor->history, &event, H_SETUNIQUE, 1);
    if (history_path) {
        editor->history_path = strdup(history_path);
        history(editor->history, &event, H_LOAD, history_path);
    }
    el_set(editor->el, EL_CLIENTDATA, editor);
    el_set(editor->el, EL_EDITOR, "emacs");
    el_set(editor->el, EL_PROMPT, prompt_function);
    el_set(editor->el, EL_HIST, history, editor->history);
    el_set(editor->el, EL_ADDFN, "llmopt-complete", "complete a name, field, argument or path", complete);
    el_set(editor->el, EL_BIND, "^I", "llmopt-complete", NULL);
    el_source(editor->el, NULL);
    return editor;
}

void llmopt_lineedit_close(llmopt_lineedit *editor) {
    if (!editor) return;
    if (editor->el) el_end(editor->el);
    if (editor->history) history_end(editor->history);
    clear_candidates(editor);
    free(editor->candidates);
    free(editor->history_path);
    free(editor->line);
    free(editor);
}

const char *llmopt_lineedit_read(llmopt_lineedit *editor, const char *prompt, int *interrupted) {
    *interrupted = 0;
    editor->prompt = prompt;
    interrupt_pending = 0;
    int count = 0;
    const char *line = el_gets(editor->el, &count);
    if (interrupt_pending) {
        interrupt_pending = 0;
        *interrupted = 1;
        el_reset(editor->el);
        fputc('\n', stdout);
        fflush(stdout);
        return NULL;
    }
    if (!line || count <= 0) return NULL;
    free(editor->line);
    editor->line = strdup(line);
    if (!editor->line) return NULL;
    size_t n = strlen(editor->line);
    while (n > 0 && (editor->line[n - 1] == '\n' || editor->line[n - 1] == '\r')) editor->line[--n] = '\0';
    return editor->line;
}

void llmopt_lineedit_add_history(llmopt_lineedit *editor, const char *line) {
    HistEvent event;
    history(editor->history, &event, H_ENTER, line);
    if (editor->history_path) history(editor->history, &event, H_SAVE, editor->history_path);
}
