-- wrk script of the neutral scenario's SSE runs (bench/neutral.sh): the same request streamed;
-- x-bench-sse makes the static nginx backend (peers/nginx-static.conf.template) answer with its
-- fixed text/event-stream body. wrk reads each response to its end before the next request.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"
wrk.headers["x-bench-sse"] = "1"
wrk.body = '{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of a reverse proxy in front of GPU inference servers in one short sentence, please."}],"max_tokens":64,"temperature":0.2,"stream":true}'
