-- plivo.verify_plivo_signature: every vector of plivo-api.md §3, then what must fail.
\pset null '(null)'

-- A, B: V2 signs base URL + nonce only.
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2',
    auth_token => 'my_auth_token') AS vector_a;
SELECT plivo.verify_plivo_signature('https://example.com:8443/cb/?a=1#frag', '1234567890',
    'v45rVZcxJisQbtJl5BfEal+M4WkkPm1AhaDWxW5TN8Q=', version => 'v2',
    auth_token => 'MY_AUTH_TOKEN_123') AS vector_b;

-- C, D: V3 POST with Plivo's own go-SDK parameters, with and without a query.
CREATE TEMP TABLE p13 AS SELECT '{
    "Direction": "outbound", "From": "19792014278",
    "ALegUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36", "CallStatus": "in-progress",
    "BillRate": "0.002", "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
    "ALegRequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "RequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "SessionStart": "2020-04-08 11:34:33.238707", "Event": "StartApp"}'::jsonb AS params;
SELECT plivo.verify_plivo_signature(
    'https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d',
    '31627761595286130198', 'k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=', 'POST',
    params, auth_token => 'Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4') AS vector_c
FROM p13;
SELECT plivo.verify_plivo_signature(
    'https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml',
    '31627761595286130198', 'iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=', 'POST',
    params, auth_token => 'Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4') AS vector_d
FROM p13;

-- E: a delivery report (an empty field still counts).
CREATE TEMP TABLE dr14 AS SELECT '{
    "From": "14155550100", "To": "14155550111",
    "MessageUUID": "db3ce55a-7f1d-11e1-8ea7-1231380bc196", "Status": "delivered",
    "ErrorCode": "000", "Units": "1", "TotalRate": "0.0050", "TotalAmount": "0.0050",
    "MessageTime": "2024-05-01 12:00:00",
    "ParentMessageUUID": "db3ce55a-7f1d-11e1-8ea7-1231380bc196", "PartInfo": "1 of 1",
    "PowerpackUUID": "", "Sequence": "1", "Type": "sms"}'::jsonb AS params;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params, auth_token => 'MY_AUTH_TOKEN_123') AS vector_e
FROM dr14;

-- F: query and body together; G: several signatures (token rotation), one valid.
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status?tenant=42&b=x%20y',
    '43597245624586714324', 'iy6y2PykZNKe74c4Wloas9WlogyInL09qf88PNRzFok=',
    params => '{"Status": "sent", "MessageUUID": "abc"}',
    auth_token => 'MY_AUTH_TOKEN_123') AS vector_f;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324',
    'AAAAbogusSigAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,yhOpishwygZLPYZ/d3v3/Ui1OgoboCmThzijwY+wVsU=',
    params => '{"Status": "queued"}', auth_token => 'MY_AUTH_TOKEN_123') AS vector_g;
-- method and version are case-insensitive
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', method => 'post', version => 'V2',
    auth_token => 'my_auth_token') AS vector_a_lower_case;

-- What must come out false: wrong token, wrong nonce, a tampered, missing or extra
-- field, another URL, a V3 signature checked as V2, no signature at all.
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params, auth_token => 'MY_AUTH_TOKEN_124') AS wrong_token FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714325', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params, auth_token => 'MY_AUTH_TOKEN_123') AS wrong_nonce FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params || '{"Status": "undelivered"}', auth_token => 'MY_AUTH_TOKEN_123') AS tampered FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params - 'ErrorCode', auth_token => 'MY_AUTH_TOKEN_123') AS field_removed FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params || '{"Extra": "1"}', auth_token => 'MY_AUTH_TOKEN_123') AS field_added FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status2',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=',
    params => params, auth_token => 'MY_AUTH_TOKEN_123') AS other_url FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=', version => 'v2',
    params => params, auth_token => 'MY_AUTH_TOKEN_123') AS v3_signature_as_v2 FROM dr14;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/plivo/status',
    '43597245624586714324', 'T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=', method => 'GET',
    params => params, auth_token => 'MY_AUTH_TOKEN_123') AS wrong_method FROM dr14;
SELECT plivo.verify_plivo_signature('https://answer.url', '12345', '', version => 'v2',
    auth_token => 'my_auth_token') AS empty_signature;
SELECT plivo.verify_plivo_signature('https://answer.url', '12345', NULL, version => 'v2',
    auth_token => 'my_auth_token') AS null_signature;
SELECT plivo.verify_plivo_signature('https://answer.url', NULL,
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2',
    auth_token => 'my_auth_token') AS null_nonce;

-- Malformed input is an error, not false.
\x on
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('hooks.example.com/plivo', '1', 'x', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https:///plivo', '1', 'x', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature(NULL, '1', 'x', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://a.example/', '1', 'x', method => 'PUT', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://a.example/', '1', 'x', version => 'v1', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://a.example/', '1', 'x', params => '[1, 2]', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://a.example/', '1', 'x', params => '{"A": {"nested": true}}', auth_token => 't') $$);
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://a.example/', '1', 'x', params => '{"A": null}', auth_token => 't') $$);
-- No token given and none configured.
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://a.example/', '1', 'x') $$);
\x off

-- A repeated field is an array; its values are sorted, as Plivo's SDKs sort them.
-- pgcrypto's HMAC is an independent check of the string V3 signs.
CREATE EXTENSION pgcrypto;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/r', '1',
    encode(hmac('https://hooks.example.com/r?KaKbLc.1', 't', 'sha256'), 'base64'),
    params => '{"L": "c", "K": ["b", "a"]}', auth_token => 't') AS repeated_field_sorted;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/r?z=1&y=2', '9',
    encode(hmac('https://hooks.example.com/r?y=2&z=1.9', 't', 'sha256'), 'base64'),
    method => 'GET', auth_token => 't') AS get_query_sorted;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/r?z=1', '9',
    encode(hmac('https://hooks.example.com/r?Status=sent&z=1.9', 't', 'sha256'), 'base64'),
    method => 'GET', params => '{"Status": "sent"}', auth_token => 't') AS get_query_and_params_merged;
DROP EXTENSION pgcrypto;
