#include "tavce/face/recon.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/error.h"
#include "tavce/nn/recon_net.h"

namespace tavce::face {

at::Tensor recon_input_tensor(const PreparedSource& src) {
  const cv::Mat& m = src.recon_input;
  if (m.dims != 4 || m.type() != CV_32F || !m.isContinuous())
    throw Error(src.label + ": prepared source has no 3DMM input image");
  return at::from_blob(const_cast<float*>(m.ptr<float>()), {m.size[0], m.size[1], m.size[2], m.size[3]},
                       at::TensorOptions().dtype(at::kFloat))
      .clone();
}

at::Tensor source_coeff_3dmm(nn::ReconNetImpl& net, const PreparedSource& src, at::Tensor* coeff257) {
  c10::InferenceMode guard;
  const auto params = net.parameters();
  if (params.empty()) throw Error("source_coeff_3dmm: the ReconNet has no parameters");
  const at::Device device = params.front().device();
  net.eval();
  const at::Tensor coeff = net.forward(recon_input_tensor(src).to(device)).to(at::kCPU);
  // trans_params are float32 in the reference too (CropAndExtract casts them).
  const at::Tensor trans = at::tensor(std::vector<float>(src.trans_params.begin(), src.trans_params.end()),
                                      at::TensorOptions().dtype(at::kFloat));
  if (coeff257) *coeff257 = coeff;
  return nn::coeff_3dmm73(coeff, trans);
}

}  // namespace tavce::face
