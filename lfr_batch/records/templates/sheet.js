const table=document.getElementById('findings'),body=table.tBodies[0];
const filter=document.getElementById('filter');
function applyFilter(){const q=filter.value.toLowerCase();let shown=0;
 for(const row of body.rows){const hit=row.textContent.toLowerCase().includes(q);row.hidden=!hit;shown+=hit;}
 document.getElementById('shown').textContent=shown;}
function sortBy(index,descending){const rows=[...body.rows];
 const key=r=>{const c=r.cells[index];return c.dataset.sort??c.textContent.trim();};
 rows.sort((a,b)=>{const x=key(a),y=key(b),nx=parseFloat(x),ny=parseFloat(y);
  const order=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return descending?-order:order;});
 rows.forEach(r=>body.appendChild(r));table.dataset.sorted=index+(descending?'-desc':'');}
[...table.tHead.rows[0].cells].forEach((th,i)=>th.addEventListener('click',()=>
 sortBy(i,table.dataset.sorted===String(i))));
filter.addEventListener('input',applyFilter);
const params=new URLSearchParams(location.hash.slice(1));
if(params.has('q')){filter.value=params.get('q');}
if(params.has('sort')){
 const i=[...table.tHead.rows[0].cells].findIndex(c=>c.dataset.key===params.get('sort'));
 if(i>=0)sortBy(i,params.get('order')==='desc');}
applyFilter();
window.addEventListener('load',()=>{const images=[...document.images];
 document.body.dataset.imagesShown=images.filter(i=>i.complete&&i.naturalWidth>0).length;});
