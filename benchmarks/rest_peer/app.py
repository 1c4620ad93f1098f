"""The classic prediction service that VOIDX's REST shim replaces, rebuilt for benchmarks/rest.py.

FastAPI + pydantic request/response models with the same JSON contract as VOIDX's `POST /predict`
(docs/rest.md), served by uvicorn. What it does per request is what the classic service did:

* the LightGBM model is loaded once per worker process (`lightgbm.Booster(model_file=...)`);
* a one-row pandas DataFrame is built from the `features` dict, columns in the model's order;
* `booster.predict(df)`;
* the "confidence interval" is faked as prediction × 0.85 / prediction × 1.15;
* with `include_explanations`, a `shap.TreeExplainer(booster)` is constructed for that request and
  its SHAP values give the 10 largest contributions by magnitude (raw-score space, like VOIDX);
* optionally an in-process LRU cache (one per worker) keyed by customer_id, the explanation flag
  and the feature values sits in front (the classic service used Redis: an in-process dict is the
  peer's best case).

Settings (environment, read at import):
    REST_PEER_MODEL           path of the LightGBM text model (required)
    REST_PEER_MODEL_VERSION   string returned as model_version ["1"]
    REST_PEER_CACHE_ENTRIES   LRU size per worker, 0 = no cache [0]
    REST_PEER_HANDLER         "sync" (def: FastAPI runs it in its thread pool) or "async"
                              (async def: runs on the event loop) ["async"]
    REST_PEER_PREDICT_THREADS LightGBM predict's num_threads, 0 = LightGBM's default (OpenMP: all
                              cores) [0]

Run: uvicorn rest_peer.app:app --workers 2 (from benchmarks/, see rest.py).
"""

import os
import threading
import time
from collections import OrderedDict
from typing import Dict, List, Optional

import lightgbm as lgb
import numpy as np
import pandas as pd
import shap
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

MODEL_PATH = os.environ["REST_PEER_MODEL"]
MODEL_VERSION = os.environ.get("REST_PEER_MODEL_VERSION", "1")
CACHE_ENTRIES = int(os.environ.get("REST_PEER_CACHE_ENTRIES", "0"))
HANDLER = os.environ.get("REST_PEER_HANDLER", "async")
PREDICT_THREADS = int(os.environ.get("REST_PEER_PREDICT_THREADS", "0"))
TOP_EXPLANATIONS = 10

model = lgb.Booster(model_file=MODEL_PATH)
PREDICT_KW = {"num_threads": PREDICT_THREADS} if PREDICT_THREADS > 0 else {}
FEATURES: List[str] = model.feature_name()


class PredictionRequest(BaseModel):
    customer_id: str
    features: Dict[str, float]
    include_explanations: bool = False


class PredictionResponse(BaseModel):
    customer_id: str
    predicted_revenue: float
    confidence_interval: Optional[List[float]] = None
    explanations: Optional[Dict[str, float]] = None
    model_version: str
    latency_ms: float
    cached: bool


class LRUCache:
    """A bounded dict in least-recently-used order (the worker's own; a lock for the thread pool)."""

    def __init__(self, max_entries):
        self.max_entries = max_entries
        self.data = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self.lock:
            value = self.data.get(key)
            if value is None:
                self.misses += 1
                return None
            self.data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value):
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.max_entries:
                self.data.popitem(last=False)


cache = LRUCache(CACHE_ENTRIES) if CACHE_ENTRIES > 0 else None

app = FastAPI(title="classic revenue prediction service (benchmark peer)")


def explain(frame: pd.DataFrame) -> Dict[str, float]:
    explainer = shap.TreeExplainer(model)  # per explained request, as the classic service did
    values = np.asarray(explainer.shap_values(frame))[0]
    top = np.argsort(-np.abs(values), kind="stable")[:TOP_EXPLANATIONS]
    return {FEATURES[i]: float(values[i]) for i in top}


def handle(req: PredictionRequest) -> PredictionResponse:
    start = time.perf_counter()
    key = None
    if cache is not None:
        key = (req.customer_id, req.include_explanations, tuple(sorted(req.features.items())))
        hit = cache.get(key)
        if hit is not None:
            return hit.model_copy(update={"latency_ms": (time.perf_counter() - start) * 1000.0, "cached": True})
    missing = [f for f in FEATURES if f not in req.features]
    if missing:
        raise HTTPException(status_code=422, detail={"missing_features": missing})
    frame = pd.DataFrame([req.features])[FEATURES]
    prediction = float(model.predict(frame, **PREDICT_KW)[0])
    explanations = explain(frame) if req.include_explanations else None
    response = PredictionResponse(
        customer_id=req.customer_id,
        predicted_revenue=prediction,
        confidence_interval=[prediction * 0.85, prediction * 1.15],
        explanations=explanations,
        model_version=MODEL_VERSION,
        latency_ms=(time.perf_counter() - start) * 1000.0,
        cached=False,
    )
    if cache is not None:
        cache.put(key, response)
    return response


if HANDLER == "sync":

    @app.post("/predict", response_model=PredictionResponse)
    def predict(req: PredictionRequest):
        return handle(req)

else:

    @app.post("/predict", response_model=PredictionResponse)
    async def predict(req: PredictionRequest):
        return handle(req)


@app.get("/health")
def health():
    return {
        "status": "ok",
        "pid": os.getpid(),
        "handler": HANDLER,
        "predict_threads": PREDICT_THREADS,
        "features": len(FEATURES),
        "trees": model.num_trees(),
        "cache": None if cache is None else {"entries": len(cache.data), "hits": cache.hits, "misses": cache.misses},
    }
