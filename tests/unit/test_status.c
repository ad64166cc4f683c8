/* test_status.c: unit tests of the one table of statuses and error classes: look-ups, the
 * unknown code, ascending order, and every Feathers class named (the 17 of @feathersjs/errors). */
#include <string.h>

#include "check.h"
#include "status.h"

int main(void)
{
    const struct fdn_status *s = fdn_status_find(404);
    CHECK(s->code == 404);
    CHECK_STR(s->reason, "Not Found");
    CHECK_STR(s->name, "NotFound");
    CHECK_STR(s->class_name, "not-found");
    CHECK(s->feathers);
    s = fdn_status_find(431);
    CHECK_STR(s->name, "RequestHeaderFieldsTooLarge");
    CHECK(!s->feathers); /* the HTTP layer's own: not a Feathers class */
    s = fdn_status_find(299);
    CHECK(s->code == 0 && strcmp(s->reason, "Unknown") == 0 &&
          strcmp(s->name, "GeneralError") == 0);
    CHECK(fdn_status_find(200)->name == NULL);

    size_t n, feathers = 0;
    const struct fdn_status *t = fdn_status_table(&n);
    CHECK(n > 20);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            CHECK(t[i - 1].code < t[i].code);
        CHECK((t[i].name == NULL) == (t[i].class_name == NULL));
        CHECK(!t[i].feathers || (t[i].name && t[i].code >= 400));
        feathers += t[i].feathers != 0;
    }
    CHECK(feathers == 17);
    return check_summary("status");
}
