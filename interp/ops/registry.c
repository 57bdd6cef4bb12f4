/* registry.c — the table of built-in operators (git's commands[] style). */
#include "op.h"
#include <string.h>

extern const ub_opdesc ub_op_noop, ub_op_pg_extract, ub_op_lake_put, ub_op_lake_copy,
    ub_op_wh_partition, ub_op_sql, ub_op_emr_add_steps, ub_op_emr_wait_steps, ub_op_lua_transform, ub_op_report;

static const ub_opdesc *const registry[] = {
    &ub_op_emr_add_steps, &ub_op_emr_wait_steps, &ub_op_lake_copy, &ub_op_lake_put, &ub_op_lua_transform,
    &ub_op_noop, &ub_op_pg_extract, &ub_op_report, &ub_op_sql, &ub_op_wh_partition, NULL
};

const ub_opdesc *ub_op_find(const char *name)
{
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const ub_opdesc *const *ub_op_all(void) { return registry; }

const char *ub_ptype_name(ub_ptype t)
{
    switch (t) {
    case UB_T_STR:      return "string";
    case UB_T_INT:      return "integer";
    case UB_T_BOOL:     return "boolean";
    case UB_T_DURATION: return "duration";
    case UB_T_PATH:     return "path";
    case UB_T_LAKEREF:  return "lake-ref";
    case UB_T_CONN:     return "connection";
    case UB_T_ENUM:     return "enum";
    case UB_T_LIST:     return "list";
    case UB_T_MAP:      return "mapping";
    }
    return "?";
}
