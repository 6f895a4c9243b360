#include <histedit.h>
#include "lineedit_shim.h"

int llmopt_lineedit_available(void) {
    HistEvent ev;
    History *h = history_init();
    if (!h) return 0;
    history(h, &ev, H_SETSIZE, 10);
    history_end(h);
    return 1;
}
