/* Fuzz target: the InfluxQL parser and formatter on arbitrary text. A parse
 * that succeeds must format every field expression without overrunning
 * the buffer; a failing one must leave nothing allocated. */
#include <stddef.h>
#include <stdint.h>

#include "store/query/influxql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ne_iql_query *q = NULL;
    char err[256];
    if (ne_iql_parse((const char *)data, size, &q, err, sizeof err) != 0)
        return 0;
    char buf[128];
    for (size_t i = 0; i < q->nstmts; i++) {
        const struct ne_iql_stmt *st = &q->stmts[i];
        for (size_t f = 0; f < st->nfields; f++)
            ne_iql_expr_format(st->fields[f].expr, buf, sizeof buf);
        if (st->where)
            ne_iql_expr_format(st->where, buf, sizeof buf);
    }
    ne_iql_free(&q);
    return 0;
}
