// The portable path: generic_impl.h for the baseline target.
#define LLMOPT_SUFFIX generic
#include "generic_impl.h"
