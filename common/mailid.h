/*
 * mailid - the 12-character id of a message
 *
 * mailid_new() fills 12 characters of [A-Za-z0-9_-] from getrandom()
 * (72 bits) and a NUL. mailid_valid() says whether a string is exactly
 * such an id; quarctl refuses anything else before it builds a path.
 */
#ifndef GH_MAILID_H
#define GH_MAILID_H

#include <stdbool.h>

#define MAILID_LEN 12

void mailid_new(char out[MAILID_LEN + 1]);
bool mailid_valid(const char *s);

#endif
