// Ready-made request handlers for the methods this project serves.
#pragma once

#include "netipc/dispatch.h"

namespace netipc {

// INCREMENT: answers v + 1 (wrapping) per item; batches are answered in
// one call (a batch handler).
Handler make_increment_handler();

}  // namespace netipc
