// tavce-train lite --data DATASET --out BUNDLE [--config FILE] [--steps N] [--seed S]
//     [--holdout set/clip,set/*,...] [--exclude ...] [--work DIR] [--resume]
//     [--checkpoint-every N] [--log-every N] [--threads N] [--name NAME] [--commit SHA]
// Trains the lite audio network (and fits its motion space) on a dataset made by
// pipelines/extract-dataset.sh, then writes a lite bundle. WORK (default
// BUNDLE.work) holds checkpoint.safetensors, log.jsonl and loss.png;
// --resume continues from the checkpoint exactly.
#pragma once

#include "common/cli.h"

namespace tavce::tools {
int lite_train(const Args& args);
}
