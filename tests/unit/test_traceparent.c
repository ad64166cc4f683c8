/* test_traceparent.c: unit tests of the traceparent check (W3C Trace Context level 1). */
#include <string.h>

#include "check.h"
#include "traceparent.h"

static int valid(const char *s)
{
    return fdn_traceparent_valid(s, strlen(s));
}

#define ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"

int main(void)
{
    CHECK(valid("00-" ID "-" SPAN "-01"));
    CHECK(valid("00-" ID "-" SPAN "-00"));
    CHECK(valid("00-" ID "-" SPAN "-ff"));      /* flags: any 2 hex digits */
    CHECK(valid("01-" ID "-" SPAN "-09-more")); /* a later version: more after a '-' */
    CHECK(valid("cc-" ID "-" SPAN "-01"));
    CHECK(!valid("00-" ID "-" SPAN "-01-more")); /* version 00 is 55 bytes exactly */
    CHECK(!valid("01-" ID "-" SPAN "-01x"));
    CHECK(!valid("ff-" ID "-" SPAN "-01"));
    CHECK(!valid("00-00000000000000000000000000000000-" SPAN "-01"));
    CHECK(!valid("00-" ID "-0000000000000000-01"));
    CHECK(!valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01"));
    CHECK(!valid("0A-" ID "-" SPAN "-01"));
    CHECK(!valid("00-" ID "-" SPAN "-0g"));
    CHECK(!valid("00_" ID "-" SPAN "-01"));
    CHECK(!valid("00-" ID "-" SPAN "-1"));
    CHECK(!valid(""));
    CHECK(!valid("garbage"));
    CHECK(!fdn_traceparent_valid("00-" ID "-" SPAN "-01", 54)); /* cut short */
    return check_summary("traceparent");
}
