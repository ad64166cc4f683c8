/* status.c: HTTP statuses and Feathers' error classes, the one table of them (see status.h). */
#include "status.h"

static const struct fdn_status statuses[] = {
    {200, "OK", NULL, NULL, 0},
    {201, "Created", NULL, NULL, 0},
    {202, "Accepted", NULL, NULL, 0},
    {204, "No Content", NULL, NULL, 0},
    {301, "Moved Permanently", NULL, NULL, 0},
    {302, "Found", NULL, NULL, 0},
    {303, "See Other", NULL, NULL, 0},
    {304, "Not Modified", NULL, NULL, 0},
    {400, "Bad Request", "BadRequest", "bad-request", 1},
    {401, "Unauthorized", "NotAuthenticated", "not-authenticated", 1},
    {402, "Payment Required", "PaymentError", "payment-error", 1},
    {403, "Forbidden", "Forbidden", "forbidden", 1},
    {404, "Not Found", "NotFound", "not-found", 1},
    {405, "Method Not Allowed", "MethodNotAllowed", "method-not-allowed", 1},
    {406, "Not Acceptable", "NotAcceptable", "not-acceptable", 1},
    {408, "Request Timeout", "Timeout", "timeout", 1},
    {409, "Conflict", "Conflict", "conflict", 1},
    {410, "Gone", "Gone", "gone", 1},
    {411, "Length Required", "LengthRequired", "length-required", 1},
    {413, "Payload Too Large", "PayloadTooLarge", "payload-too-large", 0},
    {417, "Expectation Failed", "ExpectationFailed", "expectation-failed", 0},
    {422, "Unprocessable Entity", "Unprocessable", "unprocessable", 1},
    {429, "Too Many Requests", "TooManyRequests", "too-many-requests", 1},
    {431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge",
     "request-header-fields-too-large", 0},
    {500, "Internal Server Error", "GeneralError", "general-error", 1},
    {501, "Not Implemented", "NotImplemented", "not-implemented", 1},
    {502, "Bad Gateway", "BadGateway", "bad-gateway", 1},
    {503, "Service Unavailable", "Unavailable", "unavailable", 1},
    {504, "Gateway Timeout", "GatewayTimeout", "gateway-timeout", 0},
    {505, "HTTP Version Not Supported", "HttpVersionNotSupported", "http-version-not-supported", 0},
};

const struct fdn_status *fdn_status_find(int code)
{
    static const struct fdn_status unknown = {0, "Unknown", "GeneralError", "general-error", 1};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        if (statuses[i].code == code)
            return &statuses[i];
    return &unknown;
}

const struct fdn_status *fdn_status_table(size_t *n)
{
    *n = sizeof statuses / sizeof *statuses;
    return statuses;
}
