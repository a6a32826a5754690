-- Every rejected input: SQLSTATE, a message naming the field, the offending value in
-- the detail, a hint with the fix, and nothing written (rows_changed = 0).
SET plivo.sender_number = '+14155552671';
\pset null '(null)'
\x on

-- destination_number
SELECT * FROM expect_error($$ SELECT plivo.send_sms(NULL, 'hi') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('', 'hi') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+1415', 'hi') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('call me', 'hi') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+1 415 555 267X', 'hi') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+99912345678', 'hi') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+442071838750', 'hi', ARRAY['https://example.com/a.jpg']) $$);

-- sender_number, and the plivo.sender_number setting
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'hi', sender_number => '12') $$);
RESET plivo.sender_number;
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'hi') $$);
SET plivo.sender_number = 'not a number';
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'hi') $$);
SET plivo.sender_number = '+14155552671';

-- message_text
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', NULL) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', '') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', '   ') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', repeat('a', 1601)) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', repeat('a', 1598) || '{}') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', repeat('й', 738)) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', repeat('a', 736) || '😀') $$);

-- media_urls
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', NULL) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', ARRAY[]::text[]) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi',
    array_fill('https://example.com/a.jpg'::text, ARRAY[11])) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi',
    ARRAY['https://example.com/a.jpg', NULL]) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi',
    ARRAY['https://example.com/a.jpg', '']) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', ARRAY['ftp://example.com/a.jpg']) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', ARRAY['javascript:alert(1)']) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', ARRAY['/relative/a.jpg']) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', ARRAY['https://example.com/a b.jpg']) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi', ARRAY['https://user:pw@example.com/a.jpg']) $$);
SELECT * FROM expect_error($$ SELECT plivo.send_mms('+14155552672', 'hi',
    ARRAY[ARRAY['https://example.com/a.jpg'], ARRAY['https://example.com/b.jpg']]) $$);

-- callback_url
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'hi', callback_url => 'example.com/status') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'hi', callback_url => 'https://') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'hi', callback_url => 'https://x.example/' || repeat('a', 2100)) $$);

-- INSERT names the columns it was given
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+1415', 'hi') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text) VALUES (NULL, 'hi') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, message_type) VALUES ('+14155552672', 'hi', 'fax') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, message_type) VALUES ('+14155552672', 'hi', 'mms') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, media_urls, message_type)
    VALUES ('+14155552672', 'hi', ARRAY['https://example.com/a.jpg'], 'sms') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, status) VALUES ('+14155552672', 'hi', 'sent') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, plivo_message_uuid) VALUES ('+14155552672', 'hi', 'abc') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, attempts) VALUES ('+14155552672', 'hi', 3) $$);
-- one bad row in a multi-row INSERT rejects the whole statement
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text)
    VALUES ('+14155552672', 'fine'), ('+14155552673', 'fine too'), ('+1', 'bad') $$);

\x off
SELECT count(*) AS messages_written FROM plivo.message_logs;
