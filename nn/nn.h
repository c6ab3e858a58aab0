// Everything in nn/, in one include.
#pragma once

#include "autograd/autograd.h"
#include "nn/attention.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/module.h"
#include "nn/optim/optimizer.h"
#include "nn/rms_norm.h"
#include "nn/serialization.h"
#include "nn/transformer.h"
