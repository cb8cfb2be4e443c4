/* format.c - names of the .novaq container's fixed pieces (layout in common/format.h). */
#include "common/format.h"

const char *const nq_part_kind_names[NQ_PART_KIND_COUNT] = {"raw", "norm", "codebook", "codes", "shared"};
