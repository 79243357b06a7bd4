import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function bench(name, f, n=20){ const run=()=>{const r=tf.tidy(f); r.dataSync(); r.dispose();}; for(let i=0;i<3;i++) run(); const t0=performance.now(); for(let i=0;i<n;i++) run(); console.log(name, ((performance.now()-t0)/n).toFixed(2)); }
const x = tf.randomNormal([4,64,64,32]); const w = tf.randomNormal([3,3,32,32]);
const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]);
for (const d of [1,2,12]) bench('conv d'+d, ()=>tf.conv2d(x,w,1,'same','NHWC',d));
bench('valid prepadded', ()=>tf.conv2d(xp,w,1,'valid'));
bench('backprop input', ()=>tf.conv2dTranspose(x,w,[4,64,64,32],1,'same'));
const a = tf.randomNormal([16384,288]); const b = tf.randomNormal([16384,32]);
bench('mm tA', ()=>tf.matMul(a,b,true,false), 5);
const at = tf.transpose(a);
bench('mm 288x16384 · 16384x32', ()=>tf.matMul(at,b));
bench('transpose 16384x288', ()=>tf.transpose(a));
const bt = tf.transpose(b);
bench('mm 32x16384 · 16384x288 (bt·a)', ()=>tf.matMul(bt,a));
bench('slice x', ()=>tf.slice(xp,[0,1,1,0],[4,64,64,32]));
