/*
 * banned.h - turns unbounded or non-reentrant libc calls into compile errors.
 *
 * Included first into every translation unit of src/ by the Makefile
 * (-include). The system headers that declare the banned functions are pulled
 * in before the macros so that their prototypes stay intact; any later use in
 * project code expands to an undefined identifier and fails to compile.
 * Use struct sw_buf, checked snprintf, sw_parse_* and the _r time functions.
 */
#ifndef SW_BANNED_H
#define SW_BANNED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Object-like, so that any mention (a call, a function pointer) fails. */
#define SW_BANNED(func) sorry_##func##_is_banned_in_slipway

#undef strcpy
#define strcpy SW_BANNED(strcpy)
#undef strcat
#define strcat SW_BANNED(strcat)
#undef strncpy
#define strncpy SW_BANNED(strncpy)
#undef sprintf
#define sprintf SW_BANNED(sprintf)
#undef vsprintf
#define vsprintf SW_BANNED(vsprintf)
#undef gets
#define gets SW_BANNED(gets)
#undef strtok
#define strtok SW_BANNED(strtok)
#undef atoi
#define atoi SW_BANNED(atoi)
#undef gmtime
#define gmtime SW_BANNED(gmtime)
#undef localtime
#define localtime SW_BANNED(localtime)

#endif
