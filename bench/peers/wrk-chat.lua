-- wrk script of the neutral scenario (bench/neutral.sh): the ~300-byte non-streamed chat
-- completion of bench/macro/chat.lua, model "mock-model" (infergate routes on it).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of a reverse proxy in front of GPU inference servers in one short sentence, please."}],"max_tokens":16,"temperature":0.2,"stream":false}'
