/* cf.h: the CF attributes of one dataset turned into its h5p_decode, with netCDF4-python's rules.
 * Called by source.c when a file's dataset is probed; the decode is then used by every backend. */
#ifndef H5PREP_CF_H
#define H5PREP_CF_H

#include "h5prep.h"
#include "common/decode.h"
#include "common/dtype.h"

#include <stddef.h>
#include <stdint.h>

/* Fills `dec` for dataset `dset` (hid_t) of stored type t from _FillValue, missing_value,
 * MissingValue, valid_range/valid_min/valid_max, scale_factor and add_offset, or, without CF
 * packing and fill values, from the ODIM `what` group beside it (gain, offset, nodata, undetect);
 * none of them with raw. Attributes netCDF4-python warns about and does not use give a warning (h5p_warn) and
 * are not used; attributes it fails on give H5PREP_ERR_DTYPE naming path:name. */
h5prep_status h5p_cf_decode(int64_t dset, const char *path, const char *name, h5p_dtype t, int raw,
                            h5p_decode *dec);

/* The first string of string attribute `name` of object obj (hid_t) into dst (cut to cap);
 * 0 when there is none, it is not a string or it cannot be read. */
int h5p_string_attr(int64_t obj, const char *name, char *dst, size_t cap);

/* "string", "compound", "enum", ... for an HDF5 type class (H5T_class_t) that is not numeric. */
const char *h5p_type_class_name(int cls);

/* The string attribute `name` of dataset `dset` (hid_t) into out ("" when absent or not a
 * string); path and dname name it in messages. */
h5prep_status h5p_cf_text(int64_t dset, const char *path, const char *dname, const char *name, char *out, size_t cap);

/* The ISO 8601 `date` (YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.f]], optionally Z, " UTC" or +hh:mm) as a
 * value of a coordinate with CF `units` "UNIT since DATE" (days, hours, minutes, seconds,
 * milliseconds) and `calendar` ("" when absent, standard, gregorian or proleptic_gregorian;
 * the standard calendar only from 1582-10-15 on, where it is the proleptic Gregorian one). */
h5prep_status h5p_cf_date_value(const char *units, const char *calendar, const char *date, double *out);

#endif
