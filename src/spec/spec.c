/* spec.c - placeholder until the loader lands. */
#include "spec/spec.h"
struct sw_spec *sw_spec_load(const char *path, struct sw_err *err)
{
	sw_err_set(err, SW_EINTERNAL, "spec loader not built yet: '%s'", path);
	return NULL;
}
