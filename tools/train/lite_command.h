// tavce-train lite --data DATASET --out BUNDLE [--config FILE] [--steps N] [--seed S]
//     [--tavc TAVC.safetensors [--car-weight W]]
//     [--holdout set/clip,set/*,...] [--exclude ...] [--work DIR] [--resume]
//     [--checkpoint-every N] [--log-every N] [--threads N] [--name NAME] [--commit SHA]
// Trains the lite audio network (TAVCE stage 2) on a dataset made by
// pipelines/extract-dataset.sh, then writes a lite bundle. The motion space is
// fitted on the training clips, or taken from --tavc, whose frozen encoders
// then give CAR (car_weight in the config or --car-weight). WORK (default
// BUNDLE.work) holds checkpoint.safetensors, log.jsonl and loss.png;
// --resume continues from the checkpoint exactly.
//
// tavce-train lite-tavc --data DATASET --out TAVC.safetensors [--config FILE] [--steps N]
//     [--seed S] [--components K] [--holdout ...] [--exclude ...] [--work DIR] [--resume] ...
// Trains TAVC on the lite motion space (TAVCE stage 1, train/tavc_training.h),
// fitting the motion space on the training clips like `lite` does, and
// reports held-out positive and negative alignment.
#pragma once

#include "common/cli.h"

namespace tavce::tools {
int lite_train(const Args& args);
int lite_tavc_train(const Args& args);
}
