// The Linux shared-memory data plane (profiles SHM_HYBRID 0x02 and SHM_FUTEX
// 0x04): one region file per session in the run directory, one message in
// flight per direction, spin-then-futex waiting.
//
// Normative source: docs/shm.md. The
// handshake happens on the Unix socket; after an OK HELLO_ACK selecting an
// SHM profile the server holds a ShmRegion it created before the ACK and the
// client attaches to it, and both sides move REQUEST/RESPONSE messages through
// a ShmChannel. docs/shm.md explains sizing, lifecycle and cleanup.
//
// Lifetime and threading contract
//  - ShmRegion owns the file descriptor and the mapping; a region obtained
//    from create() also owns the file name and unlinks it in its destructor,
//    whatever way the session ends. attach() never unlinks.
//  - ShmChannel is a view on a region: it must be destroyed before the
//    region it was built from (moving the region is fine: the mapping does
//    not move). One channel per side per session.
//  - A channel is single-owner: publish() and receive() must not be called
//    concurrently on the same channel. The two sides (different channels,
//    normally in different processes) run fully concurrently.
//  - receive() calls the caller's StopCheck on the receiving thread, at most
//    once per wait slice (<= 100 ms), and never after it returns.
//  - Nothing the peer writes into the region can make us read or write
//    outside the mapping: offsets and capacities are validated once and
//    cached; lengths read from the region are bounds-checked before use.
//
// The pieces, one concept per header: layout.h (the region's bytes),
// naming.h (file names), cleanup.h (stale regions), mapping.h and file.h
// (RAII), stop_check.h, region.h (ShmRegion), channel.h (ShmChannel).
#pragma once

#include "transport/shm/channel.h"
#include "transport/shm/cleanup.h"
#include "transport/shm/layout.h"
#include "transport/shm/naming.h"
#include "transport/shm/region.h"
