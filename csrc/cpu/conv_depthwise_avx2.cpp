// The depthwise kernels compiled with AVX2 + FMA (this file gets -mavx2 -mfma).
#define FASTCNN_DEPTHWISE_NS depthwise_avx2
#include "cpu/conv_depthwise_impl.h"
