// Precompiled header of libtavce's LibTorch sources (lib/meson.build): the
// ATen and torch::nn headers most of them include. Parsing these takes most of
// a torch translation unit's compile time; precompiled once, the library's
// torch part builds about twice as fast. Only headers that every such source
// may see belong here (no project headers: they change too often).
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
