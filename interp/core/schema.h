/* schema.h — the spec's JSON Schema, generated from the operator tables. */
#ifndef UB_SCHEMA_H
#define UB_SCHEMA_H
/* The schema as JSON text; the caller frees it with free(). NULL when out of memory. */
char *ub_schema_json(void);
#endif
