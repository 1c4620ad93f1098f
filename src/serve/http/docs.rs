//! `GET /openapi.json` (OpenAPI 3.1 generated from the handlers' types) and
//! `GET /docs`, a page that renders it with a few lines of inline script —
//! nothing is fetched from the internet, at build or run time.

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;

use super::api::{
    BatchRequest, BatchResponse, ClassicRequest, ClassicResponse, ErrorBody, Explanations,
    RowRequest, RowResponse,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VOIDX REST API",
        description = "Predictions over HTTP. Every answer equals the SQL statement `?show_sql=true` prints; the same models are served over the PostgreSQL wire protocol."
    ),
    paths(
        super::predict::predict_classic,
        super::predict::predict_model,
        super::health,
        super::dashboard::list,
        super::dashboard::data,
        super::dictionary::data_dictionary
    ),
    components(schemas(
        ClassicRequest,
        ClassicResponse,
        RowRequest,
        RowResponse,
        BatchRequest,
        BatchResponse,
        ErrorBody,
        Explanations,
        super::Health,
        super::dashboard::DashboardList,
        super::dashboard::ChartData
    ))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VOIDX REST API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}.m{font-weight:bold;color:#fff;padding:.1rem .4rem;border-radius:.2rem}
.post{background:#2a7}.get{background:#27a}pre{background:#f5f5f5;padding:.6rem;overflow:auto}textarea{width:100%;height:7rem;font-family:monospace}
</style></head><body>
<h1>VOIDX REST API</h1><p id="d"></p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
<div id="paths"></div><h2>Schemas</h2><div id="schemas"></div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(api=>{
  document.getElementById('d').textContent=api.info.description||'';
  const paths=document.getElementById('paths');
  for(const [path,ops] of Object.entries(api.paths)){
    for(const [method,op] of Object.entries(ops)){
      const sec=document.createElement('section');
      sec.innerHTML='<h2><span class="m '+method+'">'+method.toUpperCase()+'</span> <code>'+path+'</code></h2><p>'+(op.description||op.summary||'')+'</p>';
      const codes=Object.entries(op.responses||{}).map(([c,r])=>'<li><b>'+c+'</b> '+r.description+'</li>').join('');
      sec.innerHTML+='<ul>'+codes+'</ul>';
      if(method==='post'){
        const ta=document.createElement('textarea');
        ta.value=path==='/predict'?'{"customer_id": "c1", "features": {}, "include_explanations": true}':'{"features": {}}';
        const url=document.createElement('input');url.value=path.replace('{name}','revenue_predictor')+'?show_sql=true';url.size=50;
        const b=document.createElement('button');b.textContent='Send';const out=document.createElement('pre');
        b.onclick=()=>fetch(url.value,{method:'POST',headers:{'content-type':'application/json'},body:ta.value})
          .then(r=>r.text().then(t=>out.textContent=r.status+'\n'+t));
        sec.append(url,ta,b,out);
      }
      paths.append(sec);
    }
  }
  const s=document.getElementById('schemas');
  for(const [name,schema] of Object.entries((api.components||{}).schemas||{})){
    const pre=document.createElement('pre');pre.textContent=JSON.stringify(schema,null,2);
    const h=document.createElement('h3');h.textContent=name;s.append(h,pre);
  }
});
</script></body></html>"#;
