import time, httpx
from tests.support.prometheus import PrometheusServer
def test_dbg(prom: PrometheusServer) -> None:
    for _ in range(3):
        r = httpx.post(prom.url + "/api/v1/query", data={"query": 'rate(vllm:prompt_tokens_total{namespace="replay"}[10s])'}).json()
        print([(x["metric"]["pod"], x["metric"]["engine"], round(float(x["value"][1]))) for x in r["data"]["result"]])
        r = httpx.post(prom.url + "/api/v1/query", data={"query": 'vllm:prompt_tokens_total{namespace="replay"}[12s]'}).json()
        for x in r["data"]["result"][:2]:
            print(x["metric"]["pod"], x["metric"]["engine"], [(round(float(t)%100,2), round(float(v))) for t, v in x["values"]])
        time.sleep(1)
    assert False
