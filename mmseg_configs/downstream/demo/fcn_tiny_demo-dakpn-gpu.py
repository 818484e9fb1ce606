# + DA-KPN as a batch step on the model's device (GPU when there is one),
# training batches only, with a fresh noise field per image (as the
# pipeline variant).
_base_ = ['./fcn_tiny_demo-source-only.py']
bundle = 'work_dirs/demo/dakpn/dakpn_bundle.pth'
model = dict(data_preprocessor=dict(
    _delete_=True, type='DAKPNSegDataPreProcessor', checkpoint=bundle,
    prob=1.0, noise='fresh', mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(192, 320)))
