// tavce-eval render-table DIR... [--title TEXT]: the Markdown table of
// docs/evaluation.md from tavce-eval render outputs (DIR/clips.jsonl), over
// the clips that every method in them scored. One
// row per clip set and method (and "all"), each metric as mean ± standard
// deviation over the clips that have it, then, per set, whether lite beats
// both baselines on LMD and on the correlation of mouth opening with the
// real video's.
#pragma once

#include "common/cli.h"

namespace tavce::tools {

int render_table(const Args& args);

}  // namespace tavce::tools
