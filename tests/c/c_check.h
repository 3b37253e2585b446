/* The C tests' one check: print the failed condition with its place, count
 * it, and carry on (main() returns 1 when anything failed). */
#ifndef NETIPC_C_CHECK_H
#define NETIPC_C_CHECK_H

#include <stdio.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

#endif /* NETIPC_C_CHECK_H */
