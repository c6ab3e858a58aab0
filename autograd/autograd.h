// Everything a user of tensors and autograd needs, in one include.
#pragma once

#include "autograd/autocast.h"
#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "tensor/backend.h"
#include "tensor/op_registry.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
