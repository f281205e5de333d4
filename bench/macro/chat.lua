-- wrk script: a ~300-byte non-streaming chat completion routed by model.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of a reverse proxy in front of GPU inference servers in one short sentence, please."}],"max_tokens":16,"temperature":0.2,"stream":false}'
